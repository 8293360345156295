"""`python -m helicase.participant`: registers in ZooKeeper and runs what the leader assigns."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from helicase.common import kafka, logs, zk
from helicase.common.grpc_server import build_server, run_until_stopped, set_serving
from helicase.common.leader import LeaderWatch
from helicase.common.registry import ParticipantInfo
from helicase.participant import builtins  # noqa: F401  (registers the built-in types)
from helicase.participant.config import ParticipantConfig
from helicase.participant.registration import (
    NameTaken,
    keep_registered,
    publish_task_types,
    register,
)
from helicase.participant.sdk import REGISTRY
from helicase.participant.session import Participant

log = logging.getLogger("helicase.participant")


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def watchdog(limit_mb: int) -> None:
    """Exits the process when memory passes the limit, so its supervisor restarts it."""
    while True:
        await asyncio.sleep(1)
        rss = _rss_mb()
        if rss > limit_mb:
            log.error("memory limit passed; exiting", extra={"rss_mb": rss, "limit_mb": limit_mb})
            os._exit(3)


async def serve(config: ParticipantConfig) -> int:
    unknown = [t for t in config.task_types if t not in REGISTRY]
    if unknown:
        log.error("unknown task types", extra={"task_types": unknown})
        return 2
    types = {name: REGISTRY[name] for name in config.task_types}
    info = ParticipantInfo(
        name=config.name, group=config.group, capacity=config.capacity,
        task_types=[t.info() for t in types.values()], started_at=time.time(),
    )  # fmt: skip
    client = await asyncio.to_thread(zk.connect, config.common)
    await asyncio.to_thread(publish_task_types, client, info)
    wait = config.common.zk_session_timeout.total_seconds() + 1
    try:
        await asyncio.to_thread(register, client, info, wait=wait)
    except NameTaken as exc:
        log.error(str(exc))
        client.stop()
        return 2
    keep_registered(client, info)
    leader = LeaderWatch(client, asyncio.get_running_loop())
    await asyncio.to_thread(leader.start)
    producer = kafka.AsyncProducer(config.common)
    participant = Participant(
        name=config.name, group=config.group, capacity=config.capacity, task_types=types,
        leader=leader, producer=producer, grace=config.grace.total_seconds(),
    )  # fmt: skip
    server, _, health = build_server(config.listen, lambda s: None, [])
    background = [asyncio.create_task(participant.run_forever())]
    if config.max_rss_mb:
        background.append(asyncio.create_task(watchdog(config.max_rss_mb)))
    await set_serving(health, [], True)
    log.info("participant serving", extra={"name": config.name, "group": config.group})

    async def on_stop() -> None:
        await participant.drain(2.0)
        for task in background:
            task.cancel()
        producer.close()
        client.stop()
        client.close()

    await run_until_stopped(server, on_stop=on_stop)
    return 0


def main() -> None:
    logs.setup("participant")
    sys.exit(asyncio.run(serve(ParticipantConfig.from_env())))


if __name__ == "__main__":
    main()

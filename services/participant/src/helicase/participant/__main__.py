"""`python -m helicase.participant`: registers in ZooKeeper and runs what the leader assigns."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import time

from helicase.common import kafka, observability, tls, zk
from helicase.common.grpc_server import (
    build_server,
    follow_zk_session,
    run_until_stopped,
)
from helicase.common.leader import LeaderWatch
from helicase.common.registry import ParticipantInfo
from helicase.participant import (
    builtins,  # noqa: F401  (registers the built-in types)
    metrics,
    processes,
)
from helicase.participant.config import ParticipantConfig
from helicase.participant.registration import (
    NameTaken,
    keep_registered,
    publish_task_types,
    register,
)
from helicase.participant.sdk import TASK_TYPES
from helicase.participant.served import refused_types, served_types
from helicase.participant.session import Participant

log = logging.getLogger("helicase.participant")


def _process_tree(root: int) -> dict[int, int]:
    """Resident bytes of `root` and of every process descending from it (the tasks' processes,
    in sessions of their own, count too, as they do against a container's memory limit)."""
    page = os.sysconf("SC_PAGE_SIZE")
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parent[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * page
    tree: dict[int, int] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        tree[pid] = rss.get(pid, 0)
        frontier.extend(child for child, ppid in parent.items() if ppid == pid)
    return tree


async def watchdog(limit_mb: int) -> None:
    """Exits the process when memory passes the limit, so its supervisor restarts it."""
    while True:
        await asyncio.sleep(1)
        tree = _process_tree(os.getpid())
        rss = sum(tree.values()) / 2**20
        if rss > limit_mb:
            log.error("memory limit passed; exiting", extra={"rss_mb": rss, "limit_mb": limit_mb})
            # Like a container killed for its memory: the tasks' processes go too.
            for pid in tree:
                if pid != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            os._exit(3)


AIRAVATA = "helicase.participant.airavata"


def task_modules(config: ParticipantConfig) -> list[str]:
    """Modules to import for the configured types: the Airavata library when an airavata.*
    type is served (only then: asyncssh is slow to load), and HELICASE_PARTICIPANT_MODULES."""
    wanted = [AIRAVATA] if any(t.startswith("airavata.") for t in config.task_types) else []
    return wanted + [m for m in config.modules if m not in wanted]


async def serve(config: ParticipantConfig) -> int:
    processes.keep_environment_private()
    for module in task_modules(config):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            log.error("task module not importable", extra={"module": module, "error": str(exc)})
            return 2
    unknown = [t for t in config.task_types if t not in TASK_TYPES]
    if unknown:
        log.error("unknown task types", extra={"task_types": unknown})
        return 2
    try:
        task_user = processes.task_user(config.task_user)
    except processes.TaskUserError as exc:
        log.error("no task user to run tasks as", extra={"error": str(exc)})
        return 2
    refused = refused_types(config)
    if dropped := [t for t in config.task_types if t in refused]:
        log.warning("task types not enabled, not served", extra={"task_types": dropped})
    types = {name: TASK_TYPES[name] for name in served_types(config)}
    info = ParticipantInfo(
        name=config.name,
        group=config.group,
        capacity=config.capacity,
        task_types=[t.info() for t in types.values()],
        started_at=time.time(),
    )
    client = await asyncio.to_thread(zk.connect, config.common)
    await asyncio.to_thread(publish_task_types, client, info)
    wait = config.common.zk_session_timeout.total_seconds() + 1
    try:
        await asyncio.to_thread(register, client, info, wait=wait)
    except NameTaken:
        log.error(
            "participant name already live",
            extra={"participant": config.name, "group": config.group, "waited_s": wait},
        )
        client.stop()
        return 2
    keep_registered(client, info)
    leader = LeaderWatch(client, asyncio.get_running_loop())
    await asyncio.to_thread(leader.start)
    producer = kafka.AsyncProducer(config.common)
    participant = Participant(
        name=config.name,
        group=config.group,
        capacity=config.capacity,
        task_types=types,
        leader=leader,
        producer=producer,
        grace=config.grace,
        tls_files=tls.TlsFiles.from_env(),
        running_delay=config.running_delay,
        refused=refused,
        task_user=task_user,
    )
    metrics.CAPACITY.set(config.capacity)
    server, _, health = build_server(config.listen, lambda s: None, [])
    background = [
        asyncio.create_task(participant.run_forever()),
        asyncio.create_task(follow_zk_session(health, client)),
    ]
    if config.max_rss_mb:
        background.append(asyncio.create_task(watchdog(config.max_rss_mb)))
    log.info(
        "participant serving",
        extra={
            "participant": config.name,
            "group": config.group,
            "task_types": list(types),
            "task_uid": task_user.uid if task_user else os.geteuid(),
        },
    )

    async def on_stop() -> None:
        await participant.stop(2.0)
        for task in background:
            task.cancel()
        producer.close()
        client.stop()
        client.close()

    await run_until_stopped(server, on_stop=on_stop)
    return 0


def main() -> None:
    observability.setup("participant")
    sys.exit(asyncio.run(serve(ParticipantConfig.from_env())))


if __name__ == "__main__":
    main()

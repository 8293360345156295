"""`python -m helicase.scheduler`: launches and cancels workflows from "helicase.commands",
follows the workflows it owns to their end, and adopts orphaned ones."""

from __future__ import annotations

import asyncio
import logging
import sys

from helicase.common import kafka, observability, ownership, tls, zk
from helicase.common.deadletter import DeadLetterWriter
from helicase.common.grpc_server import (
    build_server,
    follow_zk_session,
    run_until_stopped,
    set_serving,
)
from helicase.common.kafka import AsyncProducer
from helicase.common.leader import LeaderWatch
from helicase.scheduler.admission import Admission
from helicase.scheduler.config import SchedulerConfig
from helicase.scheduler.consume import CommandLoop, Intake
from helicase.scheduler.controller_client import Controller
from helicase.scheduler.schedules import ScheduleFirer
from helicase.scheduler.workflows import Workflows
from helicase.v1 import schedule_pb2_grpc, workflow_service_pb2_grpc

log = logging.getLogger("helicase.scheduler")


async def adopt_forever(workflows: Workflows, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await workflows.adopt_orphans()
        except Exception:
            log.exception("adoption pass failed")


async def serve(config: SchedulerConfig) -> int:
    server, _, health = build_server(config.listen, lambda s: None, [])
    await set_serving(health, [], False)
    client = await asyncio.to_thread(zk.connect, config.common)
    await asyncio.to_thread(ownership.ensure_roots, client)
    await asyncio.to_thread(kafka.ensure_topics, config.common)
    leader = LeaderWatch(client, asyncio.get_running_loop())
    await asyncio.to_thread(leader.start)
    files = tls.TlsFiles.from_env()
    controller = Controller(leader, files)
    producer = AsyncProducer(config.common, linger_ms=0)
    # The api's internal listener: its calls are the scheduler's, by its certificate.
    api = tls.channel(config.common.api_internal_addr, files, "api")
    workflows = Workflows(
        scheduler_id=config.scheduler_id,
        zk=client,
        controller=controller,
        producer=producer,
        api=workflow_service_pb2_grpc.WorkflowServiceStub(api),
        admission=Admission(config.max_running, tenant_limit=config.max_running_per_tenant),
        # A dead scheduler's owner node lasts until its session expires.
        claim_wait=config.common.zk_session_timeout * 2,
    )
    commands = CommandLoop(
        config=config.common,
        workflows=workflows,
        intake=Intake(max_waiting=config.max_running + 100, max_bytes=config.max_in_flight_bytes),
        dead_letters=DeadLetterWriter(producer, "scheduler"),
    )
    firer = ScheduleFirer(
        scheduler_id=config.scheduler_id,
        zk=client,
        schedules=schedule_pb2_grpc.ScheduleServiceStub(api),
        workflows=workflow_service_pb2_grpc.WorkflowServiceStub(api),
    )
    background = [
        asyncio.create_task(firer.run(config.schedule_interval.total_seconds())),
        asyncio.create_task(commands.run()),
        asyncio.create_task(adopt_forever(workflows, config.adopt_interval.total_seconds())),
        asyncio.create_task(follow_zk_session(health, client)),
    ]
    log.info("scheduler serving", extra={"scheduler_id": config.scheduler_id})

    async def on_stop() -> None:
        await set_serving(health, [], False)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await commands.stop()
        for task in list(workflows.following.values()):
            task.cancel()
        producer.close()
        await controller.close()
        await api.close()
        # Closing the session removes our owner nodes at once: other schedulers adopt.
        client.stop()
        client.close()

    await run_until_stopped(server, on_stop=on_stop)
    return 0


def main() -> None:
    observability.setup("scheduler")
    sys.exit(asyncio.run(serve(SchedulerConfig.from_env())))


if __name__ == "__main__":
    main()

"""`python -m helicase.controller`: leader-elected; the leader runs every workflow's DAG."""

from __future__ import annotations

import asyncio
import logging
import time

from kazoo.client import KazooClient

from helicase.common import kafka, observability, ownership, tls, zk
from helicase.common.deadletter import DeadLetterWriter
from helicase.common.grpc_server import build_server, run_until_stopped, set_serving
from helicase.controller._config import ControllerConfig
from helicase.controller._election import Campaign
from helicase.controller._machine import Machine
from helicase.controller._registry import RegistryWatch
from helicase.controller._service import ControllerService, Leadership, ParticipantService
from helicase.controller._shell import LeaderShell, new_stimulus_id
from helicase.controller._stimuli import LeadershipTaken
from helicase.controller._store import StateStore
from helicase.internal.v1 import (
    controller_pb2,
    controller_pb2_grpc,
    participant_pb2,
    participant_pb2_grpc,
)

log = logging.getLogger("helicase.controller")
# SERVING only while this process leads; the process itself ("") is SERVING while it runs.
LEADER_SERVICES = [
    controller_pb2.DESCRIPTOR.services_by_name["ControllerService"].full_name,
    participant_pb2.DESCRIPTOR.services_by_name["ParticipantService"].full_name,
]
CONTROLLER = f"/{LEADER_SERVICES[0]}/"
# Who may call what, by the kind in the peer's certificate (helicase.common.tls).
ALLOWED = {
    CONTROLLER: frozenset({"scheduler"}),
    f"{CONTROLLER}GetTaskHolder": frozenset({"api"}),
    f"/{LEADER_SERVICES[1]}/": frozenset({"participant"}),
}


async def serve(config: ControllerConfig, *, machine_type: type[Machine] = Machine) -> None:
    """Runs for leadership and leads; `machine_type` makes each leader's machine (tests plant a
    defect with `testing.PoisonedMachine`)."""
    loop = asyncio.get_running_loop()
    client: KazooClient = await asyncio.to_thread(zk.connect, config.common)
    await asyncio.to_thread(client.ensure_path, ownership.RUNNING_WORKFLOWS)
    await asyncio.to_thread(kafka.ensure_topics, config.common)
    producer = kafka.AsyncProducer(config.common)
    workflow_producer = kafka.AsyncProducer(config.common, linger_ms=0)
    leadership = Leadership()
    store = StateStore(client)

    def register(server: object) -> None:
        controller_pb2_grpc.add_ControllerServiceServicer_to_server(
            ControllerService(leadership), server
        )
        participant_pb2_grpc.add_ParticipantServiceServicer_to_server(
            ParticipantService(leadership, DeadLetterWriter(workflow_producer, "controller")),
            server,
        )

    files = tls.TlsFiles.from_env()
    server, _, health = build_server(
        config.listen,
        register,
        LEADER_SERVICES,
        interceptors=[tls.PeerInterceptor(ALLOWED)],
        credentials=files.server_credentials(),
    )
    # Probes (the supervisor, Kubernetes) speak plaintext gRPC health: a server of its own that
    # serves nothing else.
    probe, _, probe_health = build_server(config.health_listen, lambda s: None, [])
    await probe.start()
    campaign: Campaign | None = None

    async def lead(epoch: int) -> None:
        workflows = await asyncio.to_thread(store.load)
        machine = machine_type(source=config.source, settings=config.machine_settings())
        shell = LeaderShell(
            machine=machine,
            store=store,
            producer=producer,
            workflow_producer=workflow_producer,
            epoch=epoch,
            flush_interval=config.flush_interval.total_seconds(),
            resign=lambda: campaign.resign() if campaign else None,
            validate=config.validate,
        )
        shell.start()
        try:
            await shell.call(
                LeadershipTaken(
                    stimulus_id=new_stimulus_id("elected"), now=time.time(), workflows=workflows
                )
            )
        except BaseException:  # the machine failed on the stored state, or we were fenced
            await shell.stop()
            raise
        leadership.shell = shell
        leadership.leader_addr = config.listen
        await set_serving(health, LEADER_SERVICES, True)
        await set_serving(health, [], True)  # the process stays SERVING
        await set_serving(probe_health, LEADER_SERVICES, True)
        log.info("leading", extra={"epoch": epoch, "workflows": len(workflows)})

    async def step_down() -> None:
        shell, leadership.shell = leadership.shell, None
        leadership.leader_addr = ""
        await set_serving(health, LEADER_SERVICES, False)
        await set_serving(health, [], True)
        await set_serving(probe_health, LEADER_SERVICES, False)
        if shell is not None:
            await shell.stop()
            log.info("stepped down", extra={"epoch": shell.epoch})

    campaign = Campaign(client, config.listen, loop, lead, step_down)
    RegistryWatch(client, loop, leadership).start()
    campaign.start()
    await set_serving(health, LEADER_SERVICES, False)
    await set_serving(health, [], True)
    await set_serving(probe_health, LEADER_SERVICES, False)
    await set_serving(probe_health, [], True)
    log.info("controller serving", extra={"addr": config.listen})

    async def on_stop() -> None:
        assert campaign is not None
        campaign.stop()
        await step_down()
        producer.close()
        workflow_producer.close()
        await asyncio.to_thread(client.stop)
        client.close()
        await probe.stop(0)

    await run_until_stopped(server, on_stop=on_stop, grace=1.0)


def main() -> None:
    observability.setup("controller")
    asyncio.run(serve(ControllerConfig.from_env()))


if __name__ == "__main__":
    main()

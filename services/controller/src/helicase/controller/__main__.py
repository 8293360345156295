"""`python -m helicase.controller`: leader-elected; the leader runs every workflow's DAG."""

from __future__ import annotations

import asyncio
import logging
import time

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch

from helicase.common import kafka, logs, zk, zkpaths
from helicase.common.grpc_server import build_server, run_until_stopped, set_serving
from helicase.controller._config import ControllerConfig
from helicase.controller._election import Campaign
from helicase.controller._machine import Machine
from helicase.controller._model import ParticipantLost
from helicase.controller._service import ControllerService, Leadership, ParticipantService
from helicase.controller._shell import Core
from helicase.controller._store import StateStore
from helicase.v1 import controller_pb2, controller_pb2_grpc, participant_pb2, participant_pb2_grpc

log = logging.getLogger("helicase.controller")
SERVICES = [
    controller_pb2.DESCRIPTOR.services_by_name["ControllerService"].full_name,
    participant_pb2.DESCRIPTOR.services_by_name["ParticipantService"].full_name,
]


class RegistryWatch:
    """Participants whose registration node vanished are lost at once (session expired)."""

    def __init__(
        self, client: KazooClient, loop: asyncio.AbstractEventLoop, leadership: Leadership
    ):
        self._zk = client
        self._loop = loop
        self._leadership = leadership
        self._groups: dict[str, set[str]] = {}

    def start(self) -> None:
        self._zk.ensure_path(zkpaths.PARTICIPANTS)
        ChildrenWatch(self._zk, zkpaths.PARTICIPANTS, self._on_groups)

    def _on_groups(self, groups: list[str]) -> None:
        for group in groups:
            if group not in self._groups:
                self._groups[group] = set()
                ChildrenWatch(self._zk, zkpaths.participant_group(group),
                              lambda names, g=group: self._on_names(g, names))  # fmt: skip

    def _on_names(self, group: str, names: list[str]) -> None:
        gone = self._groups.get(group, set()) - set(names)
        self._groups[group] = set(names)
        for name in gone:
            self._loop.call_soon_threadsafe(self._lost, name)

    def _lost(self, name: str) -> None:
        core = self._leadership.core
        if core is not None and name not in core.connected():
            core.put(ParticipantLost(stimulus_id=f"unregistered-{name}-{time.time_ns()}",
                                     now=time.time(), name=name))  # fmt: skip


async def serve(config: ControllerConfig) -> None:
    loop = asyncio.get_running_loop()
    client = await asyncio.to_thread(zk.connect, config.common)
    await asyncio.to_thread(client.ensure_path, zkpaths.WORKFLOWS)
    await asyncio.to_thread(kafka.ensure_topics, config.common)
    producer = kafka.AsyncProducer(config.common)
    leadership = Leadership()
    store = StateStore(client)

    def register(server: object) -> None:
        controller_pb2_grpc.add_ControllerServiceServicer_to_server(
            ControllerService(leadership), server
        )
        participant_pb2_grpc.add_ParticipantServiceServicer_to_server(
            ParticipantService(leadership), server
        )

    server, _, health = build_server(config.listen, register, SERVICES)
    campaign: Campaign | None = None

    async def lead(epoch: int) -> None:
        machine = Machine(source=f"controller/{config.listen}")
        for workflow in await asyncio.to_thread(StateStore(client).load):
            machine.restore(workflow)
        core = Core(
            machine=machine, store=store, producer=producer, epoch=epoch,
            participant_grace=config.participant_grace.total_seconds(),
            flush_interval=config.flush_interval.total_seconds(),
            on_fenced=lambda: campaign.resign() if campaign else None,
        )  # fmt: skip
        core.start()
        leadership.core = core
        log.info("leading", extra={"epoch": epoch, "workflows": len(machine.workflows)})

    async def step_down() -> None:
        core, leadership.core = leadership.core, None
        if core is not None:
            await core.stop()

    campaign = Campaign(client, config.listen, loop, lead, step_down)
    RegistryWatch(client, loop, leadership).start()
    campaign.start()
    # Health is about the process; leadership shows in the RPCs' NOT_LEADER answers.
    await set_serving(health, SERVICES, True)
    log.info("controller serving", extra={"addr": config.listen})

    async def on_stop() -> None:
        assert campaign is not None
        await set_serving(health, SERVICES, False)
        campaign.stop()
        await step_down()
        producer.close()
        await asyncio.to_thread(client.stop)
        client.close()

    await run_until_stopped(server, on_stop=on_stop, grace=1.0)


def main() -> None:
    logs.setup("controller")
    asyncio.run(serve(ControllerConfig.from_env()))


if __name__ == "__main__":
    main()

"""The participant's side of ParticipantService.Connect, against an in-process fake controller:
Hello, RUNNING → TaskStarted → terminal event (acked by Kafka) → TaskResult, re-sent after a
reconnect until ResultAck, duplicates ignored, CancelTask → CANCELED."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from helicase.common.config import CommonConfig, read_settings
from helicase.common.kafka import AsyncProducer
from helicase.common.leader import LeaderWatch
from helicase.common.states import TS
from helicase.common.tls import Identity
from helicase.devstack import pki
from helicase.internal.v1 import event_pb2, participant_pb2, participant_pb2_grpc
from helicase.participant import builtins  # noqa: F401  (registers the built-in types)
from helicase.participant.config import ParticipantConfig
from helicase.participant.observers import TaskEvent
from helicase.participant.sdk import TASK_TYPES
from helicase.participant.served import refused_types, served_types
from helicase.participant.session import Participant

Outcome = participant_pb2.TaskOutcome


class FakeController(participant_pb2_grpc.ParticipantServiceServicer):
    """Records what participants send; `to_participant` feeds the current stream."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[participant_pb2.ConnectRequest] = asyncio.Queue()
        self.to_participant: asyncio.Queue[participant_pb2.ConnectResponse | None] = asyncio.Queue()
        self.streams = 0
        self.observed: list[TaskEvent] = []  # what the participant's task observer saw

    async def Connect(
        self, request_iterator: AsyncIterator[participant_pb2.ConnectRequest], context: Any
    ) -> AsyncIterator[participant_pb2.ConnectResponse]:
        self.streams += 1

        async def read() -> None:
            async for message in request_iterator:
                await self.received.put(message)

        reader = asyncio.create_task(read())
        yield participant_pb2.ConnectResponse(welcome=participant_pb2.Welcome(epoch=1))
        try:
            while (response := await self.to_participant.get()) is not None:
                yield response
        finally:
            reader.cancel()

    async def next(self, kind: str) -> participant_pb2.ConnectRequest:
        while True:
            message = await asyncio.wait_for(self.received.get(), timeout=5)
            if message.WhichOneof("message") == kind:
                return message


class FakeLeader:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._never = asyncio.Event()

    async def wait_for_leader(self) -> str:
        return self.addr

    def next_change(self) -> asyncio.Event:
        return self._never

    async def wait_changed(self) -> None:
        await self._never.wait()


class FakeProducer:
    def __init__(self) -> None:
        self.events: list[event_pb2.Event] = []

    async def send(self, topic: str, key: str, value: bytes) -> None:
        event = event_pb2.Event()
        event.ParseFromString(value)
        self.events.append(event)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, types: tuple[str, ...] = ("noop", "sleep", "shell"), **options: Any
) -> AsyncIterator[tuple[FakeController, FakeProducer, Participant]]:
    """A participant p1 serving `types` (with `options`) against a fake controller, both with
    certificates of a CA made in `tmp_path`."""
    controller = FakeController()
    server = grpc.aio.server()
    participant_pb2_grpc.add_ParticipantServiceServicer_to_server(controller, server)
    served = pki.issue(tmp_path, Identity("controller", "c"))
    port = server.add_secure_port("127.0.0.1:0", served.server_credentials())
    await server.start()
    producer = FakeProducer()
    participant = Participant(
        name="p1",
        group="default",
        capacity=4,
        task_types={name: TASK_TYPES[name] for name in types},
        leader=cast(LeaderWatch, FakeLeader(f"127.0.0.1:{port}")),
        producer=cast(AsyncProducer, producer),
        grace=timedelta(seconds=0.5),
        tls_files=pki.issue(tmp_path, Identity("participant", "p1", "default")),
        observers=(controller.observed.append,),
        **options,
    )
    runner = asyncio.create_task(participant.run_forever())
    try:
        yield controller, producer, participant
    finally:
        runner.cancel()
        await server.stop(0)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[FakeController, FakeProducer, Participant]]:
    async with running(tmp_path) as parts:
        yield parts


def assign(task_id: str, type_name: str, params: dict[str, Any]) -> participant_pb2.ConnectResponse:
    assignment = participant_pb2.Assignment(
        task=participant_pb2.TaskRef(workflow_id="wf", task_id=task_id, attempt=1),
        type=type_name,
    )
    assignment.params.update(params)
    return participant_pb2.ConnectResponse(assignment=assignment)


async def test_hello_advertises_name_group_capacity_and_schemas(rig: Any) -> None:
    controller, _, _ = rig
    hello = (await controller.next("hello")).hello
    assert (hello.name, hello.instance_group, hello.capacity) == ("p1", "default", 4)
    assert {t.name for t in hello.task_types} == {"noop", "sleep", "shell"}
    sleep = next(t for t in hello.task_types if t.name == "sleep")
    assert list(sleep.params_schema["required"]) == ["seconds"]


async def test_a_task_runs_and_its_result_follows_its_terminal_event(rig: Any) -> None:
    controller, producer, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("a", "shell", {"command": "echo hi"}))
    started = await controller.next("started")
    assert started.started.task.task_id == "a"
    result = (await controller.next("result")).result
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED
    assert result.outputs["stdout"] == "hi\n"
    states = [e.task_event.state for e in producer.events]
    assert states == [TS.TASK_STATE_RUNNING, TS.TASK_STATE_COMPLETED]
    assert {e.source for e in producer.events} == {"participant/p1"}


async def test_unacked_results_are_resent_on_the_next_stream_until_acked(rig: Any) -> None:
    controller, _, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("a", "noop", {}))
    first = (await controller.next("result")).result
    await controller.to_participant.put(None)  # the leader drops the stream
    hello = await controller.next("hello")
    assert list(hello.hello.running) == []
    again = (await controller.next("result")).result
    assert again.task == first.task
    ack = participant_pb2.ResultAck(tasks=[first.task])
    await controller.to_participant.put(participant_pb2.ConnectResponse(ack=ack))
    await controller.to_participant.put(None)
    await controller.next("hello")
    await asyncio.sleep(0.2)
    assert controller.received.empty()  # nothing re-sent once acknowledged
    assert controller.streams == 3


async def test_task_observers_see_assignment_start_finish_and_ack_with_the_epoch(
    rig: Any,
) -> None:
    controller, _, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("a", "noop", {}))
    result = (await controller.next("result")).result
    ack = participant_pb2.ResultAck(tasks=[result.task])
    await controller.to_participant.put(participant_pb2.ConnectResponse(ack=ack))
    for _ in range(50):
        if len(controller.observed) == 4:
            break
        await asyncio.sleep(0.02)
    seen = controller.observed
    assert [e.kind for e in seen] == ["assigned", "start", "finish", "acked"]
    assert {(e.participant, e.epoch, e.ref.task_id) for e in seen} == {("p1", 1, "a")}
    assert [e.outcome for e in seen[2:]] == [Outcome.TASK_OUTCOME_COMPLETED] * 2


async def test_cancel_ends_a_running_task_canceled(rig: Any) -> None:
    controller, producer, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("slow", "sleep", {"seconds": 30}))
    started = (await controller.next("started")).started
    cancel = participant_pb2.CancelTask(task=started.task, reason="user")
    await controller.to_participant.put(participant_pb2.ConnectResponse(cancel=cancel))
    result = (await controller.next("result")).result
    assert result.outcome == Outcome.TASK_OUTCOME_CANCELED
    assert producer.events[-1].task_event.state == TS.TASK_STATE_CANCELED


async def test_a_duplicate_assignment_of_a_running_task_is_ignored(rig: Any) -> None:
    controller, producer, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("s", "sleep", {"seconds": 0.3}))
    await controller.to_participant.put(assign("s", "sleep", {"seconds": 0.3}))
    await controller.next("result")
    await asyncio.sleep(0.3)
    assert controller.received.empty()
    assert [e.task_event.state for e in producer.events].count(TS.TASK_STATE_RUNNING) == 1


async def test_params_breaking_the_schema_end_fatal(rig: Any) -> None:
    controller, _, _ = rig
    await controller.next("hello")
    await controller.to_participant.put(assign("bad", "sleep", {"seconds": -1}))
    result = (await controller.next("result")).result
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED


async def test_a_participant_without_shell_enabled_refuses_a_shell_task_fatally(
    tmp_path: Path,
) -> None:
    config = read_settings(ParticipantConfig, environ={"HELICASE_PARTICIPANT_NAME": "p1"},
                           common=CommonConfig())  # fmt: skip
    assert not config.enable_shell and "shell" in config.task_types
    assert served_types(config) == ("noop", "sleep")
    async with running(tmp_path, served_types(config), refused=refused_types(config)) as rig:
        controller, _, _ = rig
        hello = (await controller.next("hello")).hello
        assert {t.name for t in hello.task_types} == {"noop", "sleep"}
        await controller.to_participant.put(assign("s", "shell", {"command": "echo ran"}))
        result = (await controller.next("result")).result
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert result.message == (
        "shell tasks are not enabled on participant p1 (HELICASE_PARTICIPANT_ENABLE_SHELL is off)"
    )

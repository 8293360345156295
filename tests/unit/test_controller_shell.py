"""The leader's I/O shell around the machine, with a recording store and producer: what a
group commit writes, and failing hard when the machine raises."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from helicase.common.kafka import AsyncProducer
from helicase.common.states import TS, WS
from helicase.controller import (
    CancelRequested,
    LeadershipTaken,
    Machine,
    ParticipantJoined,
    Persist,
    TaskResultReceived,
    WorkflowSubmitted,
    build,
    decode,
)
from helicase.controller._service import Leadership
from helicase.controller._shell import LeaderShell
from helicase.controller._store import StateStore
from helicase.controller.testing import POISON, Harness, PoisonedMachine, definition
from helicase.internal.v1 import event_pb2, participant_pb2


class RecordingStore:
    """Keeps what each commit wrote, decoded."""

    def __init__(self) -> None:
        self.commits: list[dict[str, Any]] = []

    def write(self, epoch: int, states: dict[str, bytes | None]) -> None:
        self.commits.append({k: None if v is None else decode(v) for k, v in states.items()})


class RecordingProducer:
    def __init__(self) -> None:
        self.events: list[event_pb2.Event] = []

    def send_nowait(self, topic: str, key: str, value: bytes) -> asyncio.Future[None]:
        self.events.append(event_pb2.Event.FromString(value))
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.set_result(None)
        return sent


def shell_of(
    machine: Machine, *, validate: bool = False
) -> tuple[LeaderShell, RecordingStore, RecordingProducer, list[str]]:
    store, producer, resigned = RecordingStore(), RecordingProducer(), []
    shell = LeaderShell(
        machine=machine,
        store=cast(StateStore, store),
        producer=cast(AsyncProducer, producer),
        epoch=1,
        flush_interval=0.005,
        resign=lambda: resigned.append("resigned"),
        validate=validate,
    )
    return shell, store, producer, resigned


async def lead_one_task(shell: LeaderShell) -> asyncio.Queue[Any]:
    """p1 joins and runs the one task of w1; returns p1's stream queue."""
    shell.start()
    stream = shell.attach("p1")
    await shell.call(
        ParticipantJoined(
            stimulus_id="join", now=1.0, name="p1", group="default",
            task_types=frozenset({"noop"}), capacity=4,
        )
    )  # fmt: skip
    built = build(definition([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]))
    await shell.call(WorkflowSubmitted(stimulus_id="submit", now=1.0, definition=built))
    return stream


def drained(queue: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def resigned_soon(resigned: list[str]) -> None:
    for _ in range(200):
        if resigned:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the shell did not resign")


async def test_a_machine_exception_resigns_and_nothing_of_the_step_is_persisted_or_sent() -> None:
    shell, store, producer, resigned = shell_of(PoisonedMachine(source="controller/test"))
    stream = await lead_one_task(shell)
    assert store.commits[-1]["w1"].state == WS.WORKFLOW_STATE_RUNNING
    assert [m.WhichOneof("message") for m in drained(stream)] == ["assignment", "assignment"]
    commits, events = len(store.commits), len(producer.events)
    poisoned = asyncio.create_task(
        shell.call(CancelRequested(stimulus_id="cancel", now=2.0, workflow_id="w1", reason=POISON))
    )
    await resigned_soon(resigned)
    assert shell.failed and resigned == ["resigned"]
    await asyncio.sleep(0.05)  # a commit would have happened by now
    await shell.stop()
    with pytest.raises(ConnectionError):
        await poisoned  # not answered: the caller retries on the next leader
    assert len(store.commits) == commits  # the CANCELING state was never written
    assert len(producer.events) == events  # nor published
    assert drained(stream) == [None]  # no CancelTask: only the stream's end
    with pytest.raises(ConnectionError):
        await shell.call(CancelRequested(stimulus_id="again", now=3.0, workflow_id="w1"))


async def test_with_validation_a_broken_invariant_resigns_too() -> None:
    shell, store, _, resigned = shell_of(Machine(source="controller/test"), validate=True)
    await lead_one_task(shell)
    shell.machine.workflows["w1"].unfinished = 7  # what a defect in the machine could leave
    shell.put(CancelRequested(stimulus_id="cancel", now=2.0, workflow_id="w1"))
    await resigned_soon(resigned)
    await shell.stop()
    assert store.commits, "the step before the broken one was committed"
    assert all(c["w1"].state == WS.WORKFLOW_STATE_RUNNING for c in store.commits)


async def test_a_failure_on_the_stored_state_fails_the_takeover_at_once() -> None:
    """The election waits for the takeover's call: it fails without waiting for stop()."""
    shell, store, _, resigned = shell_of(Machine(source="controller/test"), validate=True)
    h = Harness()
    h.submit([{"id": "a", "type": "noop"}])
    stored = h.machine.workflows["w1"]
    stored.unfinished = 0  # a state no step of a correct machine leaves
    shell.start()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(
            shell.call(LeadershipTaken(stimulus_id="elected", now=1.0, workflows=[stored])), 5
        )
    assert resigned == ["resigned"] and store.commits == []
    await shell.stop()


async def test_a_commit_writes_each_workflow_as_its_last_step_left_it() -> None:
    shell, store, _, _ = shell_of(Machine(source="controller/test"))
    stream = await lead_one_task(shell)
    assignment = drained(stream)[0].assignment.task
    ref = (assignment.workflow_id, assignment.task_id, assignment.attempt, assignment.placement)
    done = participant_pb2.TaskOutcome.TASK_OUTCOME_COMPLETED
    await shell.call(
        TaskResultReceived(stimulus_id="r", now=2.0, participant="p1", ref=ref, outcome=done)
    )
    await shell.stop()
    last = store.commits[-1]["w1"]
    assert sorted(last.task_state) == sorted([TS.TASK_STATE_COMPLETED, TS.TASK_STATE_ASSIGNED])


def test_persist_carries_the_state_as_the_step_left_it() -> None:
    h = Harness()
    h.join("p1")
    (persist,) = [a for a in h.submit([{"id": "a", "type": "noop"}]) if isinstance(a, Persist)]
    h.cancel()  # later steps change the machine's state, not the snapshot
    assert h.state() != WS.WORKFLOW_STATE_RUNNING
    assert persist.snapshot.state == WS.WORKFLOW_STATE_RUNNING
    assert persist.snapshot.task_state[0] == TS.TASK_STATE_ASSIGNED
    assert persist.snapshot is not h.machine.workflows["w1"]


class AbortingContext:
    """What a gRPC handler's context does on abort: raise."""

    def __init__(self) -> None:
        self.aborted: list[Any] = []

    async def abort_with_status(self, status: Any) -> None:
        self.aborted.append(status)
        raise RuntimeError("aborted")


async def test_a_shell_whose_machine_failed_answers_not_leader_before_it_steps_down() -> None:
    """Until the election steps it down, a failed shell's machine may hold a half-applied step:
    the RPCs that read it (Submit, Watch, Release) must not."""
    shell, _, _, resigned = shell_of(PoisonedMachine(source="controller/test"))
    await lead_one_task(shell)
    leadership = Leadership()
    leadership.shell = shell
    context = AbortingContext()
    assert await leadership.require(cast(Any, context)) is shell
    shell.put(CancelRequested(stimulus_id="cancel", now=2.0, workflow_id="w1", reason=POISON))
    await resigned_soon(resigned)
    with pytest.raises(RuntimeError, match="aborted"):
        await leadership.require(cast(Any, context))
    assert context.aborted[0].code.name == "UNAVAILABLE"
    await shell.stop()

"""The controller's decisions, driven without any server: placement, retries, FATAL_FAILED,
failure policies, cancellation, participant loss, references to outputs."""

from __future__ import annotations

import itertools
from typing import Any

from google.protobuf import json_format

from helicase.controller import (
    AckResult,
    Assign,
    CancelRequested,
    Emit,
    Machine,
    ParticipantJoined,
    ParticipantLost,
    SendCancel,
    StartTimer,
    TaskResultReceived,
    TimerFired,
    WorkflowSubmitted,
    decode,
    encode,
)
from helicase.v1 import participant_pb2, workflow_pb2

TS = workflow_pb2.TaskState
WS = workflow_pb2.WorkflowState
Outcome = participant_pb2.TaskOutcome
_ids = itertools.count()


def sid() -> str:
    return f"s{next(_ids)}"


def workflow(tasks: list[dict[str, Any]], **fields: Any) -> workflow_pb2.Workflow:
    return json_format.ParseDict({"id": "w1", **fields, "tasks": tasks}, workflow_pb2.Workflow())


def machine_with(
    *participants: tuple[str, int], types: frozenset[str] = frozenset({"noop", "shell", "sleep"})
) -> Machine:
    machine = Machine(source="controller/test")
    for name, capacity in participants:
        machine.handle(
            ParticipantJoined(
                stimulus_id=sid(),
                now=1.0,
                name=name,
                group="default",
                task_types=types,
                capacity=capacity,
            )
        )
    return machine


def assigns(actions: list[Any]) -> list[Assign]:
    return [a for a in actions if isinstance(a, Assign)]


def result(machine: Machine, a: Assign, outcome: int, **kw: Any) -> list[Any]:
    return machine.handle(
        TaskResultReceived(
            stimulus_id=sid(), now=2.0, participant=a.participant, key=a.key, outcome=outcome, **kw
        )
    )


def task_state(machine: Machine, task_id: str) -> int:
    run = machine.workflows["w1"]
    return run.runs[run.index[task_id]].state


def test_roots_are_placed_and_dependents_wait_for_completion() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]}]
            ),
        )
    )
    first = assigns(out)
    assert [a.key[1] for a in first] == ["a"]
    assert task_state(machine, "b") == TS.TASK_STATE_PENDING
    out = result(machine, first[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert [a.key[1] for a in assigns(out)] == ["b"]
    assert AckResult("p1", first[0].key) in out
    out = result(machine, assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_COMPLETED


def test_placement_respects_capacity_and_prefers_the_least_loaded() -> None:
    machine = machine_with(("p1", 2), ("p2", 1))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow([{"id": f"t{i}", "type": "noop"} for i in range(5)]),
        )
    )
    placed = assigns(out)
    assert len(placed) == 3
    assert sorted(a.participant for a in placed) == ["p1", "p1", "p2"]
    out = result(machine, placed[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert len(assigns(out)) == 1


def test_a_task_with_no_serving_participant_waits_ready_until_one_joins() -> None:
    machine = machine_with()
    machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(), now=1.0, workflow=workflow([{"id": "a", "type": "noop"}])
        )
    )
    assert task_state(machine, "a") == TS.TASK_STATE_READY
    out = machine.handle(
        ParticipantJoined(
            stimulus_id=sid(),
            now=2.0,
            name="late",
            group="default",
            task_types=frozenset({"noop"}),
            capacity=1,
        )
    )
    assert [a.participant for a in assigns(out)] == ["late"]


def test_retryable_failure_is_retried_after_backoff_then_fails_the_workflow() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [
                    {
                        "id": "a",
                        "type": "shell",
                        "params": {"command": "x"},
                        "retry": {"maxAttempts": 2, "initialBackoff": "1s"},
                    }
                ]
            ),
        )
    )
    out = result(machine, assigns(out)[0], Outcome.TASK_OUTCOME_FAILED, message="boom")
    timers = [a for a in out if isinstance(a, StartTimer)]
    assert len(timers) == 1 and 0.8 <= timers[0].delay <= 1.2
    out = machine.handle(TimerFired(stimulus_id=sid(), now=3.0, kind="retry", key=timers[0].key))
    second = assigns(out)[0]
    assert second.key[2:] == (2, 1)
    result(machine, second, Outcome.TASK_OUTCOME_FAILED, message="boom")
    run = machine.workflows["w1"]
    assert run.state == WS.WORKFLOW_STATE_FAILED
    assert "after 2 attempts" in run.message


def test_fatal_failure_stops_at_once_cancelling_running_and_skipping_pending() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [
                    {"id": "bad", "type": "shell", "params": {"command": "x"}},
                    {"id": "long", "type": "sleep", "params": {"seconds": 9}},
                    {"id": "after", "type": "noop", "dependsOn": ["bad"]},
                ]
            ),
        )
    )
    bad = next(a for a in assigns(out) if a.key[1] == "bad")
    long = next(a for a in assigns(out) if a.key[1] == "long")
    out = result(machine, bad, Outcome.TASK_OUTCOME_FATAL_FAILED, message="bad key")
    assert SendCancel("p1", long.key, machine.workflows["w1"].message) in out
    assert not any(isinstance(a, StartTimer) and a.kind == "retry" for a in out)
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_FAILED
    assert task_state(machine, "after") == TS.TASK_STATE_SKIPPED
    assert task_state(machine, "long") == TS.TASK_STATE_CANCELED
    # The late result of the cancelled task is acknowledged and changes nothing.
    late = result(machine, long, Outcome.TASK_OUTCOME_CANCELED)
    assert AckResult("p1", long.key) in late
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_FAILED


def test_continue_policy_lets_independent_branches_finish() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [
                    {"id": "bad", "type": "noop", "retry": {"maxAttempts": 1}},
                    {"id": "child", "type": "noop", "dependsOn": ["bad"]},
                    {"id": "other", "type": "noop"},
                ],
                failurePolicy="FAILURE_POLICY_CONTINUE",
            ),
        )
    )
    bad = next(a for a in assigns(out) if a.key[1] == "bad")
    other = next(a for a in assigns(out) if a.key[1] == "other")
    result(machine, bad, Outcome.TASK_OUTCOME_FAILED)
    assert task_state(machine, "child") == TS.TASK_STATE_SKIPPED
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_RUNNING
    result(machine, other, Outcome.TASK_OUTCOME_COMPLETED)
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_FAILED


def test_cancel_tells_running_tasks_to_stop_then_ends_canceled() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [
                    {"id": "a", "type": "sleep", "params": {"seconds": 9}},
                    {"id": "b", "type": "noop", "dependsOn": ["a"]},
                ]
            ),
        )
    )
    running = assigns(out)[0]
    out = machine.handle(CancelRequested(stimulus_id=sid(), now=2.0, workflow_id="w1", reason="x"))
    assert any(isinstance(a, SendCancel) for a in out)
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_CANCELING
    assert task_state(machine, "b") == TS.TASK_STATE_CANCELED
    result(machine, running, Outcome.TASK_OUTCOME_CANCELED)
    assert machine.workflows["w1"].state == WS.WORKFLOW_STATE_CANCELED
    assert machine.handle(CancelRequested(stimulus_id=sid(), now=3.0, workflow_id="w1")) == []


def test_a_lost_participants_task_is_replaced_elsewhere_with_a_new_placement() -> None:
    machine = machine_with(("p1", 1), ("p2", 1))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(), now=1.0, workflow=workflow([{"id": "a", "type": "noop"}])
        )
    )
    first = assigns(out)[0]
    out = machine.handle(ParticipantLost(stimulus_id=sid(), now=2.0, name=first.participant))
    again = assigns(out)[0]
    assert again.participant != first.participant
    assert again.key[2:] == (1, 2)  # same attempt, next placement
    assert machine.workflows["w1"].runs[0].replacements == 1
    # A late result from the lost participant is stale.
    result(machine, first, Outcome.TASK_OUTCOME_COMPLETED)
    assert task_state(machine, "a") == TS.TASK_STATE_ASSIGNED


def test_outputs_feed_dependents_params() -> None:
    machine = machine_with(("p1", 8))
    out = machine.handle(
        WorkflowSubmitted(
            stimulus_id=sid(),
            now=1.0,
            workflow=workflow(
                [
                    {"id": "make", "type": "noop"},
                    {
                        "id": "use",
                        "type": "shell",
                        "dependsOn": ["make"],
                        "params": {
                            "command": "ls ${tasks.make.outputs.dir}",
                            "n": "${tasks.make.outputs.n}",
                        },
                    },
                ]
            ),
        )
    )
    out = result(
        machine, assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED, outputs={"dir": "/x", "n": 3}
    )
    params = json_format.MessageToDict(assigns(out)[0].params)
    assert params == {"command": "ls /x", "n": 3}


def test_submit_is_idempotent_and_state_round_trips_through_the_codec() -> None:
    machine = machine_with(("p1", 8))
    definition = workflow(
        [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]}]
    )
    out = machine.handle(WorkflowSubmitted(stimulus_id=sid(), now=1.0, workflow=definition))
    assert any(isinstance(a, Emit) for a in out)
    assert machine.handle(WorkflowSubmitted(stimulus_id=sid(), now=1.0, workflow=definition)) == []
    result(machine, assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED)
    restored = decode(encode(machine.workflows["w1"]))
    assert [r.state for r in restored.runs] == [r.state for r in machine.workflows["w1"].runs]
    assert restored.unfinished == 1 and restored.runs[1].waiting == 0

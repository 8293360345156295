"""Property tests: random sequences of results, losses, joins, timers and cancels keep the
controller's invariants, and every workflow ends once results keep coming."""

from __future__ import annotations

import itertools
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from helicase.controller import (
    Assign,
    CancelRequested,
    Machine,
    ParticipantJoined,
    ParticipantLost,
    StartTimer,
    TaskResultReceived,
    TimerFired,
    WorkflowSubmitted,
)
from helicase.v1 import participant_pb2, workflow_pb2

TS = workflow_pb2.TaskState
Outcome = participant_pb2.TaskOutcome
OUTCOMES = [
    Outcome.TASK_OUTCOME_COMPLETED,
    Outcome.TASK_OUTCOME_FAILED,
    Outcome.TASK_OUTCOME_FATAL_FAILED,
    Outcome.TASK_OUTCOME_TIMED_OUT,
    Outcome.TASK_OUTCOME_RESCHEDULE,
]


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(1, 8))
    tasks = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, max(0, i - 1)), max_size=3, unique=True)) if i else []
        tasks.append(
            {
                "id": f"t{i}",
                "type": "noop",
                "dependsOn": [f"t{d}" for d in deps],
                "retry": {"maxAttempts": draw(st.integers(1, 3))},
            }
        )
    return tasks


steps = st.lists(
    st.tuples(
        st.sampled_from(["result", "lose", "join", "timer", "cancel"]),
        st.integers(0, 10**6),
        st.sampled_from(OUTCOMES),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(dags(), steps, st.sampled_from(["FAILURE_POLICY_FAIL_FAST", "FAILURE_POLICY_CONTINUE"]))
def test_invariants_hold_and_the_workflow_terminates(
    tasks: list[dict[str, Any]], script: list[tuple[str, int, int]], policy: str
) -> None:
    counter = itertools.count()
    now = 1.0
    machine = Machine(source="controller/prop")
    capacity = {"p0": 2, "p1": 1}
    in_flight: dict[tuple[Any, ...], str] = {}
    timers: list[StartTimer] = []
    completed: set[str] = set()
    ever_assigned_after_completion: list[str] = []

    def apply(stimulus: Any) -> None:
        nonlocal now
        for action in machine.handle(stimulus):
            if isinstance(action, Assign):
                if action.key[1] in completed:
                    ever_assigned_after_completion.append(action.key[1])
                in_flight[action.key] = action.participant
                run = machine.workflows["w"]
                spec = run.specs[run.index[action.key[1]]]
                for dep in spec.deps:
                    assert run.runs[dep].state == TS.TASK_STATE_COMPLETED
            elif isinstance(action, StartTimer):
                timers.append(action)
        for view in machine.participants.values():
            assert len(view.load) <= view.capacity or not view.connected

    def join(name: str) -> None:
        apply(
            ParticipantJoined(
                stimulus_id=f"j{next(counter)}",
                now=now,
                name=name,
                group="default",
                task_types=frozenset({"noop"}),
                capacity=capacity[name],
            )
        )

    join("p0")
    join("p1")
    definition = json_format.ParseDict(
        {"id": "w", "tasks": tasks, "failurePolicy": policy}, workflow_pb2.Workflow()
    )
    apply(WorkflowSubmitted(stimulus_id="submit", now=now, workflow=definition))

    def deliver(pick: int, outcome: int) -> None:
        key = sorted(in_flight)[pick % len(in_flight)]
        participant = in_flight.pop(key)
        run = machine.workflows["w"]
        was_current = run.runs[run.index[key[1]]].state in (
            TS.TASK_STATE_ASSIGNED,
            TS.TASK_STATE_RUNNING,
        )
        apply(
            TaskResultReceived(
                stimulus_id=f"r{next(counter)}",
                now=now,
                participant=participant,
                key=key,
                outcome=outcome,
                reschedule_after=0.1,
            )
        )
        if (
            outcome == Outcome.TASK_OUTCOME_COMPLETED
            and was_current
            and (run.runs[run.index[key[1]]].state == TS.TASK_STATE_COMPLETED)
        ):
            completed.add(key[1])

    for kind, pick, outcome in script:
        now += 0.5
        if kind == "result" and in_flight:
            deliver(pick, outcome)
        elif kind == "lose":
            name = f"p{pick % 2}"
            apply(ParticipantLost(stimulus_id=f"l{next(counter)}", now=now, name=name))
            in_flight = {k: p for k, p in in_flight.items() if p != name}
        elif kind == "join":
            join(f"p{pick % 2}")
        elif kind == "timer" and timers:
            timer = timers.pop(pick % len(timers))
            apply(
                TimerFired(stimulus_id=f"t{next(counter)}", now=now, kind=timer.kind, key=timer.key)
            )
        elif kind == "cancel" and pick % 7 == 0:
            apply(CancelRequested(stimulus_id=f"c{next(counter)}", now=now, workflow_id="w"))

    # Liveness: with both participants present, completing everything ends the workflow.
    join("p0")
    join("p1")
    for _ in range(500):
        run = machine.workflows["w"]
        if run.terminal:
            break
        now += 100
        if in_flight:
            deliver(0, Outcome.TASK_OUTCOME_COMPLETED)
        elif timers:
            timer = timers.pop(0)
            apply(
                TimerFired(stimulus_id=f"t{next(counter)}", now=now, kind=timer.kind, key=timer.key)
            )
    run = machine.workflows["w"]
    assert run.terminal, [(s.id, r.state) for s, r in zip(run.specs, run.runs, strict=True)]
    assert not ever_assigned_after_completion
    final_state = run.state
    apply(CancelRequested(stimulus_id="late-cancel", now=now, workflow_id="w"))
    assert machine.workflows["w"].state == final_state

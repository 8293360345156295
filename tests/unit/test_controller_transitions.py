"""The declared state transitions (`_transitions`) and invariants (`_invariants`): the machine
moves tasks and workflows only along the tables, and an illegal change raises with the stimulus
that caused it."""

from __future__ import annotations

from typing import Any

import pytest

from helicase.common.events import TASK_TERMINAL, WORKFLOW_TERMINAL
from helicase.common.states import TS, WS
from helicase.controller import (
    TASK_TRANSITIONS,
    WORKFLOW_TRANSITIONS,
    InvalidState,
    InvalidTransition,
)
from helicase.controller.testing import Harness, assigns
from helicase.internal.v1 import participant_pb2

COMPLETED = participant_pb2.TaskOutcome.TASK_OUTCOME_COMPLETED


def a_then_b() -> list[dict[str, Any]]:
    return [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]}]


def test_the_tables_name_every_state_and_nothing_leaves_a_final_one() -> None:
    assert set(TASK_TRANSITIONS) == set(TS.values()) - {TS.TASK_STATE_UNSPECIFIED}
    # PENDING is the api's state of a workflow the controller has not been given yet.
    controller_states = set(WS.values()) - {WS.WORKFLOW_STATE_UNSPECIFIED}
    assert set(WORKFLOW_TRANSITIONS) == controller_states - {WS.WORKFLOW_STATE_PENDING}
    for task_state in TASK_TERMINAL - {TS.TASK_STATE_FAILED, TS.TASK_STATE_TIMED_OUT}:
        assert TASK_TRANSITIONS[task_state] == frozenset()
    for workflow_state in WORKFLOW_TERMINAL:
        assert WORKFLOW_TRANSITIONS[workflow_state] == frozenset()
    assert all(TS.TASK_STATE_PENDING not in to for to in TASK_TRANSITIONS.values())


def test_an_illegal_task_change_raises_with_the_stimulus_and_changes_nothing() -> None:
    h = Harness()
    h.join("p1")
    h.submit(a_then_b())
    machine, workflow = h.machine, h.machine.workflows["w1"]
    machine._sid = "poke-1"
    with pytest.raises(InvalidTransition) as raised:
        machine._set(workflow, 0, TS.TASK_STATE_PENDING)  # ASSIGNED -> PENDING
    error = raised.value
    assert (error.stimulus_id, error.workflow_id, error.task_id) == ("poke-1", "w1", "a")
    assert (error.start, error.finish) == (TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_PENDING)
    assert "poke-1" in str(error) and "TASK_STATE_ASSIGNED -> TASK_STATE_PENDING" in str(error)
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED


def test_an_illegal_workflow_change_raises() -> None:
    h = Harness()
    h.join("p1")
    h.result(assigns(h.submit([{"id": "a", "type": "noop"}]))[0], COMPLETED)
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED
    h.machine._sid = "poke-2"
    with pytest.raises(InvalidTransition, match="poke-2: workflow w1 WORKFLOW_STATE_COMPLETED"):
        h.machine._set_workflow(h.machine.workflows["w1"], WS.WORKFLOW_STATE_CANCELING, "")
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED


def test_a_completed_result_after_the_controller_timed_the_attempt_out_is_taken() -> None:
    """TIMED_OUT -> COMPLETED: the attempt waits for its retry when its result comes after all."""
    h = Harness()
    h.join("p1")
    task = {"id": "a", "type": "noop", "timeout": "1s", "retry": {"maxAttempts": 2}}
    first = assigns(h.submit([task]))[0]
    h.fire_all("task-deadline")
    assert h.task_state("a") == TS.TASK_STATE_TIMED_OUT
    h.result(first, COMPLETED)
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED


def test_validate_names_what_does_not_hold() -> None:
    h = Harness()
    h.join("p1")
    h.submit(a_then_b())
    workflow = h.machine.workflows["w1"]
    workflow.unfinished = 5
    workflow.task_state[1] = TS.TASK_STATE_READY  # its dependency has not COMPLETED
    h.machine._sid = "step-9"
    with pytest.raises(InvalidState) as raised:
        h.machine.validate()
    message = str(raised.value)
    assert message.startswith("step-9: workflow w1: unfinished is 5, 2 tasks are not final")
    assert "task b TASK_STATE_READY with 1 dependencies not COMPLETED" in message

"""Event ids are deterministic and positions order one task's events as the design says."""

from __future__ import annotations

from helicase.common import events
from helicase.common.states import TS, WS


def test_the_same_fact_from_two_producers_has_one_id() -> None:
    a = events.task_event(
        workflow_id="w", task_id="t", attempt=1, placement=1, state=TS.TASK_STATE_COMPLETED,
        source="participant/p1",
    )  # fmt: skip
    b = events.task_event(
        workflow_id="w", task_id="t", attempt=1, placement=1, state=TS.TASK_STATE_COMPLETED,
        source="controller/c", message="accepted",
    )  # fmt: skip
    assert a.event_id == b.event_id
    assert a.event_id != events.task_event_id("w", "t", 2, 1, TS.TASK_STATE_COMPLETED)


def test_terminal_state_outranks_every_earlier_state_of_the_same_attempt() -> None:
    done = events.task_position(1, 1, TS.TASK_STATE_FAILED)
    for live in (TS.TASK_STATE_PENDING, TS.TASK_STATE_READY, TS.TASK_STATE_ASSIGNED,
                 TS.TASK_STATE_RUNNING):  # fmt: skip
        assert events.task_position(1, 1, live) < done


def test_a_later_attempt_or_placement_supersedes_an_earlier_terminal_state() -> None:
    failed = events.task_position(1, 1, TS.TASK_STATE_FAILED)
    assert events.task_position(2, 1, TS.TASK_STATE_ASSIGNED) > failed
    assert events.task_position(1, 2, TS.TASK_STATE_ASSIGNED) > events.task_position(
        1, 1, TS.TASK_STATE_RUNNING
    )


def test_workflow_terminal_state_is_never_overwritten() -> None:
    terminal = events.workflow_position(WS.WORKFLOW_STATE_COMPLETED)
    for state in (WS.WORKFLOW_STATE_PENDING, WS.WORKFLOW_STATE_RUNNING,
                  WS.WORKFLOW_STATE_CANCELING):  # fmt: skip
        assert events.workflow_position(state) < terminal

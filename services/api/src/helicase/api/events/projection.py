"""Folding events into the read model. Pure and order-independent: any permutation of a set of
events, with any duplicates, folds to the same rows (see helicase.common.events positions)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from helicase.common.events import (
    TASK_TERMINAL,
    WORKFLOW_TERMINAL,
    task_position,
    workflow_position,
)
from helicase.common.states import TS, WS


@dataclass(frozen=True)
class TaskFact:
    """The fields of a task event the projections use."""

    attempt: int
    placement: int
    state: int
    participant: str
    message: str
    outputs: dict[str, Any] | None
    time: datetime
    start_time: datetime | None = None  # the attempt's start, carried by a terminal event


@dataclass(frozen=True)
class TaskRow:
    """A task's current state (the winning event's), as stored in `tasks`."""

    state: int = TS.TASK_STATE_PENDING
    attempt: int = 0
    placement: int = 0
    participant: str = ""
    participant_pos: tuple[int, ...] = ()
    message: str = ""
    outputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of a task, as stored in `task_attempts`."""

    state: int = TS.TASK_STATE_PENDING
    placement: int = 0
    participant: str = ""
    participant_pos: tuple[int, ...] = ()
    message: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class WorkflowRow:
    """A workflow's state, as stored in `workflows`."""

    state: int = WS.WORKFLOW_STATE_PENDING
    message: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


def _participant(
    current: str, current_pos: tuple[int, ...], fact: TaskFact, pos: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """The participant of the highest-positioned event that names one."""
    if fact.participant and pos > current_pos:
        return fact.participant, pos
    return current, current_pos


def fold_task(row: TaskRow, fact: TaskFact) -> TaskRow:
    pos = task_position(fact.attempt, fact.placement, fact.state)
    participant, participant_pos = _participant(row.participant, row.participant_pos, fact, pos)
    if pos <= task_position(row.attempt, row.placement, row.state):
        return replace(row, participant=participant, participant_pos=participant_pos)
    return TaskRow(
        state=fact.state,
        attempt=fact.attempt,
        placement=fact.placement,
        participant=participant,
        participant_pos=participant_pos,
        message=fact.message,
        outputs=fact.outputs if fact.state == TS.TASK_STATE_COMPLETED else None,
    )


def fold_attempt(row: AttemptRow, fact: TaskFact) -> AttemptRow:
    pos = task_position(fact.attempt, fact.placement, fact.state)
    participant, participant_pos = _participant(row.participant, row.participant_pos, fact, pos)
    start = row.start_time
    began = fact.time if fact.state == TS.TASK_STATE_RUNNING else fact.start_time
    if began is not None and (start is None or began < start):
        start = began
    if pos <= task_position(fact.attempt, row.placement, row.state):
        return replace(
            row, participant=participant, participant_pos=participant_pos, start_time=start
        )
    return AttemptRow(
        state=fact.state,
        placement=fact.placement,
        participant=participant,
        participant_pos=participant_pos,
        message=fact.message,
        start_time=start,
        end_time=fact.time if fact.state in TASK_TERMINAL else None,
    )


def fold_workflow(row: WorkflowRow, state: int, message: str, time: datetime) -> WorkflowRow:
    start = row.start_time
    if state == WS.WORKFLOW_STATE_RUNNING and (start is None or time < start):
        start = time
    if workflow_position(state) <= workflow_position(row.state):
        return replace(row, start_time=start)
    return WorkflowRow(
        state=state,
        message=message,
        start_time=start,
        end_time=time if state in WORKFLOW_TERMINAL else None,
    )

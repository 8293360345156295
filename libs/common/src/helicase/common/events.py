"""The event vocabulary: deterministic ids, positions and constructors of Event messages.

A task event's position is (attempt, COMPLETED or not, placement, rank of state, state number).
Projections keep the event with the highest position, so they converge whatever the order and
number of deliveries.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from google.protobuf import struct_pb2, timestamp_pb2

from helicase.common.limits import truncate
from helicase.common.states import TS, WS
from helicase.internal.v1 import event_pb2, participant_pb2
from helicase.wire import WORKFLOW_TERMINAL as WORKFLOW_TERMINAL

TASK_TERMINAL = frozenset(
    {TS.TASK_STATE_COMPLETED, TS.TASK_STATE_FAILED, TS.TASK_STATE_FATAL_FAILED,
     TS.TASK_STATE_TIMED_OUT, TS.TASK_STATE_CANCELED, TS.TASK_STATE_SKIPPED}
)  # fmt: skip

_OUTCOME = participant_pb2.TaskOutcome
# The terminal task state each outcome reports; RESCHEDULE has none (the attempt runs again).
OUTCOME_STATE: dict[int, int] = {
    _OUTCOME.TASK_OUTCOME_COMPLETED: TS.TASK_STATE_COMPLETED,
    _OUTCOME.TASK_OUTCOME_FAILED: TS.TASK_STATE_FAILED,
    _OUTCOME.TASK_OUTCOME_FATAL_FAILED: TS.TASK_STATE_FATAL_FAILED,
    _OUTCOME.TASK_OUTCOME_CANCELED: TS.TASK_STATE_CANCELED,
    _OUTCOME.TASK_OUTCOME_TIMED_OUT: TS.TASK_STATE_TIMED_OUT,
}

_TASK_RANK = {
    TS.TASK_STATE_PENDING: 0,
    TS.TASK_STATE_READY: 1,
    TS.TASK_STATE_ASSIGNED: 2,
    TS.TASK_STATE_RUNNING: 3,
}
_WORKFLOW_RANK = {
    WS.WORKFLOW_STATE_PENDING: 0,
    WS.WORKFLOW_STATE_RUNNING: 1,
    WS.WORKFLOW_STATE_CANCELING: 2,
}


def task_position(attempt: int, placement: int, state: int) -> tuple[int, int, int, int, int]:
    """Total order of one task's events: a later attempt outranks an earlier one; within an
    attempt a COMPLETED event outranks every placement's other events (the controller takes a
    COMPLETED result from a placement it gave up, and stops the later one); then a later
    placement outranks an earlier one, and terminal states every live state."""
    completed = int(state == TS.TASK_STATE_COMPLETED)
    rank = _TASK_RANK.get(state, 4)  # type: ignore[call-overload]
    return (attempt, completed, placement, rank, state)


def workflow_position(state: int) -> tuple[int, int]:
    return (_WORKFLOW_RANK.get(state, 3), state)  # type: ignore[call-overload]


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def task_event_id(workflow_id: str, task_id: str, attempt: int, placement: int, state: int) -> str:
    return _digest("task", workflow_id, task_id, attempt, placement, state)


def workflow_event_id(workflow_id: str, state: int) -> str:
    return _digest("workflow", workflow_id, state)


def timestamp(at: datetime | None = None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(at or datetime.now(UTC))
    return ts


def task_event(
    *,
    workflow_id: str,
    task_id: str,
    attempt: int,
    placement: int,
    state: int,
    source: str,
    participant: str = "",
    message: str = "",
    outputs: struct_pb2.Struct | None = None,
    at: timestamp_pb2.Timestamp | None = None,
    start: timestamp_pb2.Timestamp | None = None,
) -> event_pb2.Event:
    return event_pb2.Event(
        event_id=task_event_id(workflow_id, task_id, attempt, placement, state),
        workflow_id=workflow_id,
        time=at or timestamp(),
        source=source,
        task_event=event_pb2.TaskEvent(
            task_id=task_id,
            attempt=attempt,
            placement=placement,
            state=state,  # type: ignore[arg-type]
            participant=participant,
            message=truncate(message),  # one bound for every producer's message
            outputs=outputs,
            start_time=start,
        ),
    )


def workflow_event(
    *, workflow_id: str, state: int, source: str, message: str = "",
    at: timestamp_pb2.Timestamp | None = None,
) -> event_pb2.Event:  # fmt: skip
    return event_pb2.Event(
        event_id=workflow_event_id(workflow_id, state),
        workflow_id=workflow_id,
        time=at or timestamp(),
        source=source,
        workflow_event=event_pb2.WorkflowEvent(state=state, message=truncate(message)),  # type: ignore[arg-type]
    )

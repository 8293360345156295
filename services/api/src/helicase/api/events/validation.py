"""Validation of RecordEvents (pure): every event the api stores is well formed and within the
limits (helicase.common.limits), or the whole batch is refused with a field violation naming
each bad event, so that the sink dead-letters it instead of retrying it for ever."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from helicase.api.convert import parse_id
from helicase.common import limits
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.internal.v1 import event_pb2

_ID = limits.COMPONENT_NAME
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def _task_event(where: str, task: event_pb2.TaskEvent) -> list[FieldViolation]:
    out = limits.too_long(f"{where}.task_id", task.task_id, limits.TASK_ID)
    out += limits.too_long(f"{where}.participant", task.participant, _ID)
    out += limits.too_long(f"{where}.message", task.message, limits.MESSAGE)
    if task.HasField("start_time"):
        out += _timestamp(f"{where}.start_time", task.start_time)
    problem = limits.outputs_struct_problem(task.outputs) if task.HasField("outputs") else None
    if problem is not None:
        out.append(FieldViolation(f"{where}.outputs", problem))
    return out


def _timestamp(field: str, value: timestamp_pb2.Timestamp) -> list[FieldViolation]:
    """A Timestamp PostgreSQL can store: within the range protobuf defines (years 1 to 9999)."""
    if not _MIN_SECONDS <= value.seconds <= _MAX_SECONDS or not 0 <= value.nanos < 10**9:
        return [FieldViolation(field, "is not a valid Timestamp (years 1 to 9999)")]
    return []


def _event(index: int, event: event_pb2.Event, bad_ids: set[str]) -> list[FieldViolation]:
    where = f"events[{index}]"
    size = event.ByteSize()
    if size > limits.EVENT_BYTES:  # nothing else of it is worth reading
        return [FieldViolation(where, f"is {size} bytes; the limit is {limits.EVENT_BYTES}")]
    out: list[FieldViolation] = []
    if not event.event_id:
        out.append(FieldViolation(f"{where}.event_id", "is required"))
    out += limits.too_long(f"{where}.event_id", event.event_id, _ID)
    out += limits.too_long(f"{where}.source", event.source, _ID)
    if event.HasField("time"):
        out += _timestamp(f"{where}.time", event.time)
    if event.workflow_id in bad_ids:
        out.append(FieldViolation(f"{where}.workflow_id", "is not a workflow id"))
    kind = event.WhichOneof("payload")
    if kind is None:
        out.append(FieldViolation(f"{where}.payload", "is required"))
    elif kind == "task_event":
        out += _task_event(f"{where}.task_event", event.task_event)
    else:
        message = event.workflow_event.message
        out += limits.too_long(f"{where}.workflow_event.message", message, limits.MESSAGE)
    return out


def check_events(request: event_pb2.RecordEventsRequest) -> None:
    """Raises InvalidArgument naming every event without an id, a workflow id or a payload, or
    over a limit: outputs that are not finite JSON or too big, a message or an event too long."""
    # Each distinct workflow id parsed once, not once per event.
    bad_ids = {w for w in {e.workflow_id for e in request.events} if parse_id(w) is None}
    violations: list[FieldViolation] = []
    for index, event in enumerate(request.events):
        violations += _event(index, event, bad_ids)
    if violations:
        raise InvalidArgument(violations)

"""The limits on what a caller or a task may send: every string and repeated field that reaches
an event, a row or a Kafka message has one (docs/reliability.md, "The limits"). Pure: the
api's validation modules and the participant read the numbers and the checks from here.

Lengths are in characters, sizes in bytes of the encoding that travels (proto for params and
events, compact JSON for outputs)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2

from helicase.common.errors import FieldViolation

REQUEST_ID = 128
"""request_id of every create (idempotency key, kept per tenant)."""
DISPLAY_NAME = 200
"""display_name of workflows, schedules, experiments, resources, tenants, API keys."""
NAME = 200
"""A template's name."""
DESCRIPTION = 2000
"""A template's description."""
LABELS = 32
"""Labels of one workflow."""
LABEL_KEY = 63
LABEL_VALUE = 63
TASK_ID = 63
"""A task id and an instance group (also held to a pattern)."""
TASK_TYPE = 128
"""A task type's name."""
DEPENDS_ON = 10_000
"""depends_on entries of one task."""
PARAMS_BYTES = 64 * 1024
"""A task's params, proto-encoded."""
JSON_DEPTH = 20
"""Nesting of params and outputs (objects and lists)."""
OUTPUTS_BYTES = 64 * 1024
"""A task's outputs, as compact JSON."""
REASON = 1024
"""The reason of a CancelWorkflow or CancelExperiment: copied into each canceled task's event."""
MESSAGE = 4096
"""A task's or workflow's event message: the participant truncates a longer one (an exception's
text), the api refuses an event carrying more."""
EVENT_BYTES = 512 * 1024
"""One event, proto-encoded: far under the gRPC message limit (helicase.wire.MAX_MESSAGE_BYTES),
so that one event always fits the sink's RecordEvents call. Room for the largest outputs a task
may return (a Struct spends up to 5.5 bytes per JSON byte: a list of small numbers) and the
longest message."""
CRON = 256
TIME_ZONE = 64
EXECUTABLE = 1024
"""An experiment's executable, each argument, environment value and file path."""
ARGUMENTS = 256
"""An experiment's arguments; also the size of its environment."""
ENV_NAME = 128
FILES = 1000
"""Input or output files of one experiment."""
PRIVATE_KEY = 16 * 1024
"""A credential's private key; also a resource's host key."""
COMPONENT_NAME = 253
"""An event's id, source and participant: digests and host names (a pod's name)."""
DURATION_SECONDS = 366 * 24 * 3600
"""A task's timeout and its retry backoffs: at most a year (a Duration may carry any int64
seconds, which no datetime.timedelta holds)."""

_TRUNCATED = "… (truncated)"
_LARGEST_NUMBER = 1.7976931348623157e308  # JSON numbers travel as doubles (Struct)


def too_long(field: str, value: str, limit: int) -> list[FieldViolation]:
    """A violation of `field` when `value` has more than `limit` characters, or holds a NUL
    (PostgreSQL's text and jsonb cannot store one)."""
    if len(value) > limit:
        return [FieldViolation(field, f"is {len(value)} characters; the limit is {limit}")]
    if "\x00" in value:
        return [FieldViolation(field, "must not contain NUL characters")]
    return []


def too_many(
    field: str, values: Sequence[Any] | Mapping[Any, Any], limit: int
) -> list[FieldViolation]:
    """A violation of `field` when it has more than `limit` entries."""
    if len(values) > limit:
        return [FieldViolation(field, f"has {len(values)} entries; the limit is {limit}")]
    return []


def too_long_a_duration(field: str, value: duration_pb2.Duration) -> list[FieldViolation]:
    """A violation of `field` when `value` is negative or longer than DURATION_SECONDS."""
    if value.seconds < 0 or value.nanos < 0:
        return [FieldViolation(field, "must not be negative")]
    if value.seconds + value.nanos / 1e9 > DURATION_SECONDS:
        return [FieldViolation(field, f"must be at most 366 days ({DURATION_SECONDS}s)")]
    return []


def seconds_of(value: duration_pb2.Duration) -> float:
    """`value` in seconds, within [0, DURATION_SECONDS] whatever it carries: for consumers of
    messages that may not have passed the api's checks (Duration.ToTimedelta() raises
    OverflowError beyond about 2.7 million years)."""
    seconds = value.seconds + value.nanos / 1e9
    return min(max(seconds, 0.0), float(DURATION_SECONDS))


def truncate(text: str, limit: int = MESSAGE) -> str:
    """`text` cut to at most `limit` characters, saying that it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


def json_problem(value: Any, *, max_depth: int = JSON_DEPTH) -> str | None:
    """Why `value` (decoded JSON: dict, list, str, number, bool, None) is not finite JSON of at
    most `max_depth` levels, naming where (`NaN at $.x[2]`), or None. Iterative: a deep value
    cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{_float_name(item)} at {_shown(path)}"
        if isinstance(item, int) and abs(item) > _LARGEST_NUMBER:
            return f"a number beyond the range of a double at {_shown(path)}"
        if isinstance(item, Mapping):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels at {_shown(path)}"
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list | tuple):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels at {_shown(path)}"
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
    return None


def struct_problem(struct: struct_pb2.Struct, *, max_depth: int = JSON_DEPTH) -> str | None:
    """json_problem of a protobuf Struct (params, outputs), read without converting it: a
    Struct's binary encoding can carry NaN and Infinity, which JSON cannot."""
    stack: list[tuple[struct_pb2.Value, str, int]] = [
        (value, f"$.{key}", 1) for key, value in struct.fields.items()
    ]
    while stack:
        item, path, depth = stack.pop()
        kind = item.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(item.number_value):
            return f"{_float_name(item.number_value)} at {_shown(path)}"
        if kind in ("struct_value", "list_value") and depth >= max_depth:
            return f"nested deeper than {max_depth} levels at {_shown(path)}"
        if kind == "struct_value":
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in item.struct_value.fields.items())
        elif kind == "list_value":
            stack.extend(
                (v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item.list_value.values)
            )
    return None


def _shown(path: str) -> str:
    return truncate(path, 200)  # keys can be long: a description stays short


def _float_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def outputs_problem(outputs: Any, limit: int = OUTPUTS_BYTES) -> str | None:
    """Why `outputs` (what a task returned) cannot be a task's outputs, or None: not an object,
    not finite JSON, too deep, or more than `limit` bytes as JSON once in a Struct (as the
    api measures them: outputs_struct_problem)."""
    if not isinstance(outputs, Mapping):
        return "outputs must be a JSON object"
    problem = json_problem(outputs)
    if problem is not None:
        return f"outputs are not finite JSON: {problem}"
    struct = struct_pb2.Struct()
    try:
        struct.update(outputs)
    except (TypeError, ValueError) as exc:
        return f"outputs are not JSON: {exc}"
    return outputs_struct_problem(struct, limit)


def outputs_struct_problem(outputs: struct_pb2.Struct, limit: int = OUTPUTS_BYTES) -> str | None:
    """Why a Struct (an event's outputs) cannot be a task's outputs, or None: NaN, Infinity, too
    deep, or over `limit` bytes as compact JSON (numbers written as the doubles they are)."""
    problem = struct_problem(outputs)
    if problem is not None:
        return f"outputs are not finite JSON: {problem}"
    text = json.dumps(json_format.MessageToDict(outputs), allow_nan=False, separators=(",", ":"))
    size = len(text.encode())
    if size > limit:
        return f"outputs are {size} bytes as JSON; the limit is {limit}"
    return None


VIOLATIONS_BYTES = 4 * 1024
"""What the field violations of one error may take: they travel base64-encoded in a trailer, and
gRPC clients refuse trailers over 8 KiB in all (RESOURCE_EXHAUSTED instead of the error), so an
error about a huge request stays readable."""
ERROR_MESSAGE = 512
"""The message of such an error (its first violations, summed up)."""
_FIELD_SHOWN = 200
_DESCRIPTION_SHOWN = 300


def shown_violations(
    violations: Sequence[FieldViolation], budget: int = VIOLATIONS_BYTES
) -> list[FieldViolation]:
    """As many of `violations` as fit in `budget` bytes, each cut to a readable length, then one
    saying how many more there were."""
    out: list[FieldViolation] = []
    used = 0
    for index, violation in enumerate(violations):
        shown = FieldViolation(
            truncate(violation.field, _FIELD_SHOWN),
            truncate(violation.description, _DESCRIPTION_SHOWN),
        )
        size = len(shown.field.encode()) + len(shown.description.encode())
        if used + size > budget - 2 * (_FIELD_SHOWN + 100):  # room for the last line
            rest = len(violations) - index
            out.append(FieldViolation(shown.field, f"... and {rest} more violations"))
            break
        out.append(shown)
        used += size
    return out

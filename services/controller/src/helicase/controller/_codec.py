"""A workflow's coordination state as bytes for ZooKeeper: zlib-compressed JSON.

    {"v": 3, "definition": <base64 of the serialized helicase.v1.Workflow>,
     "state": .., "message": .., "start": .., "end": .., "failed": ..,
     "columns": {"state"|"final"|"attempt"|"placement"|"replacements": <base64 of the column>},
     "participants": {"<task index>": name},  # tasks in flight
     "outputs": {"<task index>": {...}},       # COMPLETED tasks with outputs
     "due": {"<task index>": t}, "deadlines": {"<task index>": t}, "cancel_due": t}
                                               # timers, as absolute wall-clock seconds

Version 2 (no timers) is still read: its timers start over, as they did then.

Columns are the little-endian bytes of the per-task arrays: a million tasks take a few MB
before compression, and encoding costs no Python object per task.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from array import array
from typing import Any

from helicase.controller import _dag
from helicase.controller._workflow import WorkflowRun
from helicase.v1 import workflow_pb2

VERSION = 3
READABLE = frozenset({2, 3})
_BYTE_COLUMNS = ("task_state", "final", "replacements")
_INT_COLUMNS = ("attempt", "placement")


class CorruptState(ValueError):
    """Stored bytes that are not a workflow state this version can read."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int_column(values: array[int]) -> str:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return _b64(values.tobytes())


def _read_int_column(text: str, size: int) -> array[int]:
    values = array("I")
    values.frombytes(base64.b64decode(text))
    if sys.byteorder == "big":
        values.byteswap()
    if len(values) != size:
        raise CorruptState(f"column of {len(values)} values for {size} tasks")
    return values


def encode(workflow: WorkflowRun, *, level: int = 6) -> bytes:
    columns = {name: _b64(bytes(getattr(workflow, name))) for name in _BYTE_COLUMNS}
    columns |= {name: _int_column(getattr(workflow, name)) for name in _INT_COLUMNS}
    doc: dict[str, Any] = {
        "v": VERSION,
        "definition": _b64(workflow.definition.blob),
        "state": workflow.state,
        "message": workflow.message,
        "start": workflow.start_time,
        "end": workflow.end_time,
        "failed": workflow.failed,
        "columns": columns,
        "participants": {str(i): name for i, name in workflow.participant.items()},
        "outputs": {str(i): outputs for i, outputs in workflow.outputs.items()},
        "due": {str(i): at for i, at in workflow.due.items()},
        "deadlines": {str(i): at for i, at in workflow.deadline.items()},
        "cancel_due": workflow.cancel_due,
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), level)


def decode(data: bytes) -> WorkflowRun:
    try:
        doc = json.loads(zlib.decompress(data))
        version = doc.get("v") if isinstance(doc, dict) else None
        if version not in READABLE:
            raise CorruptState(f"state version {version!r}, expected one of {sorted(READABLE)}")
        definition = _dag.build(
            workflow_pb2.Workflow.FromString(base64.b64decode(doc["definition"]))
        )
        workflow = WorkflowRun(definition)
        size = len(definition)
        columns = doc["columns"]
        for name in _BYTE_COLUMNS:
            column = bytearray(base64.b64decode(columns[name]))
            if len(column) != size:
                raise CorruptState(f"column {name} of {len(column)} values for {size} tasks")
            setattr(workflow, name, column)
        for name in _INT_COLUMNS:
            setattr(workflow, name, _read_int_column(columns[name], size))
        workflow.state = int(doc["state"])
        workflow.message = str(doc["message"])
        workflow.start_time = float(doc["start"])
        workflow.end_time = float(doc["end"])
        workflow.failed = bool(doc["failed"])
        workflow.participant = {int(i): str(n) for i, n in doc["participants"].items()}
        workflow.outputs = {int(i): dict(o) for i, o in doc["outputs"].items()}
        workflow.due = {int(i): float(t) for i, t in doc.get("due", {}).items()}
        workflow.deadline = {int(i): float(t) for i, t in doc.get("deadlines", {}).items()}
        workflow.cancel_due = float(doc.get("cancel_due", 0.0))
    except CorruptState:
        raise
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise CorruptState(f"unreadable workflow state: {exc!r}") from exc
    workflow.count_unfinished()
    return workflow

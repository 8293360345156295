"""A workflow's coordination state as bytes for ZooKeeper.

Version 4, what `encode` makes, is a self-contained binary frame:

    b"HCS" + version byte (4)
    + u32 length + zlib(serialized helicase.v1.Workflow)      # the definition
    + zlib(u32 length + JSON + columns)                        # everything that changes

Version 5 is how the controller stores it (`_store.py`): the definition is written once, apart,
when the workflow is first persisted, and every commit writes only

    b"HCS" + version byte (5)
    + u32 length + u32 CRC-32 of the compressed definition    # which definition it belongs to
    + zlib(u32 length + JSON + columns)                        # as in version 4

`split` cuts a version 4 frame into the compressed definition and the version 5 frame (copying
only the mutable part), and `decode(frame, definition=...)` joins them again; a version 5 frame
whose definition is missing or another one is CorruptState.

The definition never changes, so its compressed form is made once per workflow and kept on the
`Definition` (`packed`; a state read back keeps the bytes it was read from): a commit compresses
only the mutable part, at a fast level. The JSON is

    {"state": .., "message": .., "start": .., "end": .., "failed": ..,
     "participants": {"<task index>": name},  # tasks in flight
     "earlier": {"<task index>": {"<placement>": name}},
                                               # placements of the current attempt given up
     "outputs": {"<task index>": {...}},       # COMPLETED tasks with outputs
     "due": {"<task index>": t}, "deadlines": {"<task index>": t}, "cancel_due": t}
                                               # timers, as absolute wall-clock seconds

and the columns follow it raw: task_state, final and replacements (a byte a task), then attempt
and placement (little-endian u32 a task). Their lengths follow from the definition's task count.

"earlier" is written only when some placement was given up, and came later within the same
versions: a state without it (written before) reads as no placement given up with a known
holder, so a late result of one is superseded (the task's live placement runs on; nothing is
taken from a participant that may not have held it), and an older controller ignores the key.

Stored states of versions 4, 3 and 2 (written before) are still read, so a cluster upgrades by
failover; the first commit after it stores the definition apart and the state as version 5.
Versions 2 and 3 are zlib(JSON) with "v", the definition as base64 and each column as base64
under "columns"; version 2 has no timers, which then start over as they did. Every integer is
little-endian.

Columns are the bytes of the per-task arrays: a million tasks take a few MB before compression,
and encoding costs no Python object per task.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from array import array
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from helicase.common.errors import InvalidArgument
from helicase.controller import _dag
from helicase.controller._dag import Definition
from helicase.controller._workflow import WorkflowRun
from helicase.v1 import workflow_pb2

VERSION = 4  # what encode makes: the whole state in one frame
STORED_VERSION = 5  # what the store writes on every commit: the frame without its definition
READABLE = frozenset({2, 3, 4, 5})
MAGIC = b"HCS"  # a zlib stream (versions 2 and 3) starts with 0x78 instead
LEVEL = 1  # the mutable part, compressed on every commit
DEFINITION_LEVEL = 6  # the definition, compressed once per workflow
_BYTE_COLUMNS = ("task_state", "final", "replacements")
_INT_COLUMNS = ("attempt", "placement")
_U32 = struct.Struct("<I")
_REFERENCE = struct.Struct("<II")  # length and CRC-32 of the compressed definition
_BYTES_PER_TASK = len(_BYTE_COLUMNS) + 4 * len(_INT_COLUMNS)


class CorruptState(ValueError):
    """Stored bytes that are not a workflow state this version can read."""


def _little_endian(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _int_array(data: bytes | memoryview, size: int) -> array[int]:
    values = array("I")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    if len(values) != size:
        raise CorruptState(f"column of {len(values)} values for {size} tasks")
    return values


def _inflate(data: bytes | memoryview) -> bytes:
    """One whole zlib stream, nothing after it."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data)
    if not inflater.eof or inflater.unused_data:
        raise CorruptState("truncated or trailing bytes after a compressed section")
    return out


def _mutable(workflow: WorkflowRun) -> dict[str, Any]:
    doc = {
        "state": workflow.state,
        "message": workflow.message,
        "start": workflow.start_time,
        "end": workflow.end_time,
        "failed": workflow.failed,
        "participants": {str(i): name for i, name in workflow.participant.items()},
        "outputs": {str(i): outputs for i, outputs in workflow.outputs.items()},
        "due": {str(i): at for i, at in workflow.due.items()},
        "deadlines": {str(i): at for i, at in workflow.deadline.items()},
        "cancel_due": workflow.cancel_due,
    }
    if workflow.earlier:  # rare: absent, the frame is what it was before the key existed
        doc["earlier"] = {
            str(i): {str(p): name for p, name in held.items()}
            for i, held in workflow.earlier.items()
        }
    return doc


def _set_mutable(workflow: WorkflowRun, doc: dict[str, Any]) -> None:
    workflow.state = int(doc["state"])
    workflow.message = str(doc["message"])
    workflow.start_time = float(doc["start"])
    workflow.end_time = float(doc["end"])
    workflow.failed = bool(doc["failed"])
    workflow.participant = {int(i): str(n) for i, n in doc["participants"].items()}
    workflow.earlier = {
        int(i): {int(p): str(n) for p, n in held.items()}
        for i, held in doc.get("earlier", {}).items()
    }
    workflow.outputs = {int(i): dict(o) for i, o in doc["outputs"].items()}
    workflow.due = {int(i): float(t) for i, t in doc.get("due", {}).items()}
    workflow.deadline = {int(i): float(t) for i, t in doc.get("deadlines", {}).items()}
    workflow.cancel_due = float(doc.get("cancel_due", 0.0))


# -- version 4 ---------------------------------------------------------------------------------


def packed_definition(definition: Definition) -> bytes:
    """The definition compressed, made on first use and kept with the definition."""
    if definition.packed is None:
        definition.packed = zlib.compress(definition.blob, DEFINITION_LEVEL)
    return definition.packed


def encode(workflow: WorkflowRun, *, level: int = LEVEL) -> bytes:
    """The state as version 4: compresses only what changes once the definition is packed.
    The store writes it as two pieces (see `split`)."""
    packed = packed_definition(workflow.definition)
    text = json.dumps(_mutable(workflow), separators=(",", ":")).encode()
    mutable = b"".join(
        (
            _U32.pack(len(text)),
            text,
            *(getattr(workflow, name) for name in _BYTE_COLUMNS),
            *(_little_endian(getattr(workflow, name)) for name in _INT_COLUMNS),
        )
    )
    return b"".join(
        (MAGIC, bytes((VERSION,)), _U32.pack(len(packed)), packed, zlib.compress(mutable, level))
    )


class Pieces(NamedTuple):
    """A version 4 frame cut in two: what is stored once and what is stored on every commit."""

    definition: memoryview  # the compressed definition (a view into the frame, not a copy)
    crc: int  # its CRC-32, which the version 5 frame carries
    frame: bytes  # the version 5 frame


def split(data: bytes) -> Pieces:
    """A version 4 frame (what encode makes) as its compressed definition and the version 5
    frame to store on every commit, which references that definition."""
    view = memoryview(data)
    header = len(MAGIC) + 1
    if data[: len(MAGIC)] != MAGIC or len(data) <= header or data[len(MAGIC)] != VERSION:
        raise CorruptState("not a version 4 state frame")
    (packed_length,) = _U32.unpack_from(view, header)
    start = header + _U32.size
    if start + packed_length > len(data):
        raise CorruptState("definition section runs past the end")
    packed = view[start : start + packed_length]
    crc = zlib.crc32(packed)
    reference = _REFERENCE.pack(packed_length, crc)
    frame = b"".join((MAGIC, bytes((STORED_VERSION,)), reference, view[start + packed_length :]))
    return Pieces(packed, crc, frame)


def _decode_frame(data: bytes, definition: bytes | None) -> WorkflowRun:
    view = memoryview(data)
    header = len(MAGIC) + 1
    if data[len(MAGIC)] == STORED_VERSION:
        length, crc = _REFERENCE.unpack_from(view, header)
        if definition is None:
            raise CorruptState("a version 5 state without its definition")
        if len(definition) != length or zlib.crc32(definition) != crc:
            raise CorruptState("the stored definition is not the one this state belongs to")
        packed, body = definition, view[header + _REFERENCE.size :]
    else:
        (packed_length,) = _U32.unpack_from(view, header)
        start = header + _U32.size
        if start + packed_length > len(data):
            raise CorruptState("definition section runs past the end")
        packed, body = bytes(view[start : start + packed_length]), view[start + packed_length :]
    built = _dag.build(workflow_pb2.Workflow.FromString(_inflate(packed)))
    built.packed = packed
    return _decode_mutable(built, body)


def _decode_mutable(definition: Definition, body: memoryview) -> WorkflowRun:
    mutable = memoryview(_inflate(body))
    (text_length,) = _U32.unpack_from(mutable, 0)
    offset = _U32.size + text_length
    size = len(definition)
    if len(mutable) != offset + size * _BYTES_PER_TASK:
        raise CorruptState(f"{len(mutable) - offset} bytes of columns for {size} tasks")
    doc = json.loads(bytes(mutable[_U32.size : offset]))
    if not isinstance(doc, dict):
        raise CorruptState("state document is not an object")
    workflow = WorkflowRun(definition)
    for name in _BYTE_COLUMNS:
        setattr(workflow, name, bytearray(mutable[offset : offset + size]))
        offset += size
    for name in _INT_COLUMNS:
        setattr(workflow, name, _int_array(mutable[offset : offset + 4 * size], size))
        offset += 4 * size
    _set_mutable(workflow, doc)
    return workflow


# -- versions 2 and 3 --------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_v3(workflow: WorkflowRun, *, level: int = 6) -> bytes:
    """The state as version 3 (the whole definition compressed on every call). Not written by
    the controller any more: kept to measure against and to test upgrades."""
    columns = {name: _b64(bytes(getattr(workflow, name))) for name in _BYTE_COLUMNS}
    columns |= {name: _b64(_little_endian(getattr(workflow, name))) for name in _INT_COLUMNS}
    doc = {"v": 3, "definition": _b64(workflow.definition.blob), "columns": columns}
    doc |= _mutable(workflow)
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), level)


def _decode_json(data: bytes) -> WorkflowRun:
    doc = json.loads(zlib.decompress(data))
    version = doc.get("v") if isinstance(doc, dict) else None
    if version not in (2, 3):
        raise CorruptState(f"state version {version!r}, expected one of {sorted(READABLE)}")
    definition = _dag.build(workflow_pb2.Workflow.FromString(base64.b64decode(doc["definition"])))
    workflow = WorkflowRun(definition)
    size = len(definition)
    columns = doc["columns"]
    for name in _BYTE_COLUMNS:
        column = bytearray(base64.b64decode(columns[name]))
        if len(column) != size:
            raise CorruptState(f"column {name} of {len(column)} values for {size} tasks")
        setattr(workflow, name, column)
    for name in _INT_COLUMNS:
        setattr(workflow, name, _int_array(base64.b64decode(columns[name]), size))
    _set_mutable(workflow, doc)
    return workflow


# -- reading -----------------------------------------------------------------------------------


def stored_apart(data: bytes) -> bool:
    """Whether a stored state is a version 5 frame, whose definition is stored apart."""
    return data[: len(MAGIC) + 1] == MAGIC + bytes((STORED_VERSION,))


def decode(data: bytes, *, definition: bytes | None = None) -> WorkflowRun:
    """Any readable version; a version 5 frame needs its compressed definition (as stored).
    Raises CorruptState for anything else."""
    try:
        if data[: len(MAGIC)] == MAGIC:
            version = data[len(MAGIC)] if len(data) > len(MAGIC) else None
            if version not in (VERSION, STORED_VERSION):
                raise CorruptState(f"state version {version!r}, expected one of {sorted(READABLE)}")
            workflow = _decode_frame(data, definition)
        else:
            workflow = _decode_json(data)
    except CorruptState:
        raise
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        zlib.error,
        struct.error,
        DecodeError,
        InvalidArgument,
    ) as exc:
        raise CorruptState(f"unreadable workflow state: {exc!r}") from exc
    workflow.count_unfinished()
    return workflow

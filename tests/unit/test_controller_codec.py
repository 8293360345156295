"""The persisted form of a workflow's state: round trips, compactness, corruption."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from helicase.common.states import TS
from helicase.controller import WorkflowRun, decode, encode
from helicase.controller._codec import (
    MAGIC,
    STORED_VERSION,
    VERSION,
    CorruptState,
    encode_v3,
    split,
    stored_apart,
)
from helicase.controller.testing import Harness, assigns
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome


def test_state_round_trips_with_definition_columns_participants_and_outputs() -> None:
    original = _busy_run(labels={"team": "chem"})
    restored = decode(encode(original))
    assert restored.definition.blob == original.definition.blob
    assert restored.definition.workflow().labels == {"team": "chem"}
    assert restored.task_state == original.task_state
    assert list(restored.attempt) == list(original.attempt)
    assert list(restored.placement) == list(original.placement)
    assert restored.final == original.final
    assert restored.participant == {1: "p1"}
    assert restored.outputs == {0: {"dir": "/x"}}
    assert restored.unfinished == 2 and list(restored.waiting) == [0, 0, 1]
    assert (restored.state, restored.start_time) == (original.state, original.start_time)


def test_a_large_workflow_stays_small_when_encoded() -> None:
    h = Harness()
    tasks = [{"id": f"t{i}", "type": "noop"} for i in range(20_000)]
    h.submit(tasks)
    data = encode(h.machine.workflows["w1"])
    assert len(data) < 200_000
    assert len(decode(data).definition) == 20_000


def _busy_run(labels: dict[str, str] | None = None) -> WorkflowRun:
    """Tasks in every situation the state records: done with outputs, in flight, with timers."""
    h = Harness()
    h.join("p1", capacity=2)
    out = h.submit(
        [
            {"id": "a", "type": "noop", "params": {"k": [1, "x"]}},
            {"id": "b", "type": "sleep", "timeout": "3s"},
            {"id": "c", "type": "noop", "dependsOn": ["a", "b"]},
        ],
        displayName="demo",
        labels=labels or {},
    )
    a, b = assigns(out)
    h.result(a, Outcome.TASK_OUTCOME_COMPLETED, outputs={"dir": "/x"})
    h.started(b.ref)
    run = h.machine.workflows["w1"]
    run.due[2] = 1234.5
    run.cancel_due = 99.0
    return run


def _same(restored: WorkflowRun, original: WorkflowRun, *, timers: bool = True) -> None:
    assert restored.definition.blob == original.definition.blob
    assert restored.task_state == original.task_state
    assert restored.final == original.final
    assert restored.replacements == original.replacements
    assert list(restored.attempt) == list(original.attempt)
    assert list(restored.placement) == list(original.placement)
    assert restored.participant == original.participant
    assert restored.outputs == original.outputs
    assert (restored.state, restored.message, restored.failed) == (
        original.state,
        original.message,
        original.failed,
    )
    assert (restored.start_time, restored.end_time) == (original.start_time, original.end_time)
    assert (restored.unfinished, list(restored.waiting)) == (
        original.unfinished,
        list(original.waiting),
    )
    if timers:
        assert (restored.due, restored.deadline) == (original.due, original.deadline)
        assert restored.cancel_due == original.cancel_due


def test_version_4_is_a_frame_whose_definition_is_compressed_once() -> None:
    original = _busy_run()
    assert original.definition.packed is None
    data = encode(original)
    assert data[:4] == MAGIC + bytes((VERSION,))
    packed = original.definition.packed
    assert packed is not None and zlib.decompress(packed) == original.definition.blob
    original.task_state[2] = TS.TASK_STATE_FAILED
    again = encode(original)
    assert original.definition.packed is packed  # not compressed again
    assert again != data and packed in again
    restored = decode(again)
    _same(restored, original)
    # The state read back keeps the packed bytes it came with: re-encoding is byte-identical.
    assert restored.definition.packed == packed
    assert encode(restored) == again


def test_version_5_references_the_definition_stored_apart() -> None:
    original = _busy_run()
    data = encode(original)
    packed = original.definition.packed
    assert packed is not None
    pieces = split(data)
    assert bytes(pieces.definition) == packed and pieces.crc == zlib.crc32(packed)
    frame = pieces.frame
    assert frame[:4] == MAGIC + bytes((STORED_VERSION,))
    assert stored_apart(frame) and not stored_apart(data)
    assert len(frame) == len(data) - len(packed) + 4  # the CRC instead of the definition
    restored = decode(frame, definition=packed)
    _same(restored, original)
    assert restored.definition.packed == packed
    assert encode(restored) == data  # the next commit references the same stored definition
    assert split(encode(restored)).crc == pieces.crc


def test_a_big_workflows_commit_frame_is_small_without_its_definition() -> None:
    h = Harness()
    h.submit([{"id": f"task-{i:06d}", "type": "noop"} for i in range(20_000)])
    pieces = split(encode(h.machine.workflows["w1"]))
    assert len(pieces.definition) > 30_000
    assert len(pieces.frame) < 3_000
    assert len(decode(pieces.frame, definition=bytes(pieces.definition)).definition) == 20_000


def test_a_version_5_state_without_its_own_definition_is_corrupt() -> None:
    frame = split(encode(_busy_run())).frame
    other = _busy_run()
    other.definition.blob = other.definition.blob + b"\x10\x01"
    other_packed = zlib.compress(other.definition.blob)
    packed = split(encode(_busy_run())).definition
    for definition in (None, other_packed, bytes(packed)[:-1], bytes(packed) + b"\0"):
        with pytest.raises(CorruptState):
            decode(frame, definition=definition)
    with pytest.raises(CorruptState):
        split(frame)  # only version 4 frames are cut
    with pytest.raises(CorruptState):
        split(encode_v3(_busy_run()))


def test_version_3_and_version_2_states_are_still_read() -> None:
    original = _busy_run()
    v3 = encode_v3(original)
    assert json.loads(zlib.decompress(v3))["v"] == 3
    _same(decode(v3), original)
    doc = json.loads(zlib.decompress(v3))
    doc["v"] = 2
    for timer in ("due", "deadlines", "cancel_due"):
        del doc[timer]
    restored = decode(zlib.compress(json.dumps(doc).encode()))
    _same(restored, original, timers=False)
    assert (restored.due, restored.deadline, restored.cancel_due) == ({}, {}, 0.0)
    assert decode(encode(restored)).task_state == original.task_state  # upgraded on next write


def _frame(packed: bytes, mutable: bytes, version: int = VERSION) -> bytes:
    return MAGIC + bytes((version,)) + struct.pack("<I", len(packed)) + packed + mutable


def _corrupt_v4() -> list[bytes]:
    good = encode(_busy_run())
    packed_length = struct.unpack_from("<I", good, 4)[0]
    packed, mutable = good[8 : 8 + packed_length], good[8 + packed_length :]
    inner = zlib.decompress(mutable)
    return [
        MAGIC,
        MAGIC + bytes((VERSION,)),
        _frame(packed, mutable, version=6),
        good[:-3],  # truncated
        good + b"x",  # trailing bytes
        _frame(packed + b"\0" * 10**6, mutable)[: len(good)],  # length past the end
        _frame(packed, zlib.compress(inner[:-1])),  # a column one byte short
        _frame(packed, zlib.compress(inner + b"\0")),  # one byte too many
        _frame(packed, zlib.compress(struct.pack("<I", 2) + b"[]" + inner[4:])),  # not an object
        _frame(zlib.compress(b"\xff\xff\xff"), mutable),  # definition not a Workflow
        _frame(b"not zlib", mutable),
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", zlib.compress(b'{"v": 1}'), zlib.compress(b"[]"), *_corrupt_v4()],
)
def test_unreadable_state_raises_corrupt_state(data: bytes) -> None:
    with pytest.raises(CorruptState):
        decode(data)


def test_the_holders_of_given_up_placements_round_trip_and_are_absent_when_none() -> None:
    original = _busy_run()
    plain = encode(original)
    assert b'"earlier"' not in zlib.decompress(split(plain).frame[len(MAGIC) + 1 + 8 :])
    original.earlier = {1: {1: "p0", 2: "p3"}}
    restored = decode(encode(original))
    assert restored.earlier == {1: {1: "p0", 2: "p3"}}
    assert decode(plain).earlier == {}  # written before the record: nothing given up is known

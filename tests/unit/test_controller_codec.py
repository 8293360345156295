"""The persisted form of a workflow's state: round trips, compactness, corruption."""

from __future__ import annotations

import zlib

import pytest

from helicase.controller import decode, encode
from helicase.controller._codec import CorruptState
from helicase.controller.testing import Harness, assigns
from helicase.v1 import participant_pb2, workflow_pb2

TS = workflow_pb2.TaskState
Outcome = participant_pb2.TaskOutcome


def test_state_round_trips_with_definition_columns_participants_and_outputs() -> None:
    h = Harness()
    h.join("p1", capacity=2)
    out = h.submit(
        [
            {"id": "a", "type": "noop", "params": {"k": [1, "x"]}},
            {"id": "b", "type": "sleep", "timeout": "3s"},
            {"id": "c", "type": "noop", "dependsOn": ["a", "b"]},
        ],
        displayName="demo",
        labels={"team": "chem"},
    )
    a, b = assigns(out)
    h.result(a, Outcome.TASK_OUTCOME_COMPLETED, outputs={"dir": "/x"})
    h.started(b.ref)
    original = h.machine.workflows["w1"]
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


@pytest.mark.parametrize("data", [b"garbage", zlib.compress(b'{"v": 1}'), zlib.compress(b"[]")])
def test_unreadable_state_raises_corrupt_state(data: bytes) -> None:
    with pytest.raises(CorruptState):
        decode(data)

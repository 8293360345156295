"""Unacknowledged results: kept until a ResultAck names them, whatever the interleaving."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.internal.v1 import participant_pb2
from helicase.participant.results import Unacked, key_of


def ref(task: int, attempt: int = 1) -> participant_pb2.TaskRef:
    return participant_pb2.TaskRef(workflow_id="w", task_id=f"t{task}", attempt=attempt)


def result(task: int, attempt: int = 1) -> participant_pb2.TaskResult:
    return participant_pb2.TaskResult(task=ref(task, attempt))


def test_a_result_stays_pending_until_acknowledged() -> None:
    unacked = Unacked()
    unacked.add(result(1))
    unacked.add(result(2))
    unacked.ack([ref(1)])
    assert [key_of(r.task) for r in unacked.pending()] == [key_of(ref(2))]


def test_an_ack_of_another_attempt_does_not_clear_the_result() -> None:
    unacked = Unacked()
    unacked.add(result(1, attempt=2))
    unacked.ack([ref(1, attempt=1)])
    assert len(unacked) == 1
    assert unacked.get(key_of(ref(1, attempt=2))) is not None


def test_acks_of_unknown_results_are_ignored() -> None:
    unacked = Unacked()
    unacked.ack([ref(9)])
    assert len(unacked) == 0


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5))))
def test_pending_is_exactly_what_was_added_and_not_acked_since(ops: list[tuple[bool, int]]) -> None:
    unacked = Unacked()
    expected: set[int] = set()
    for is_add, task in ops:
        if is_add:
            unacked.add(result(task))
            expected.add(task)
        else:
            unacked.ack([ref(task)])
            expected.discard(task)
    assert {r.task.task_id for r in unacked.pending()} == {f"t{t}" for t in expected}

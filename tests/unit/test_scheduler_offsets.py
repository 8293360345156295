"""Committing offsets when commands finish out of order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.scheduler.offsets import CommitTracker

P = ("helicase.commands", 0)


def test_commit_waits_for_the_earliest_unfinished_offset() -> None:
    tracker = CommitTracker()
    for offset in (10, 11, 12):
        tracker.start(P, offset)
    assert tracker.done(P, 12) is None
    assert tracker.done(P, 11) is None
    assert tracker.done(P, 10) == 13


def test_in_order_completion_commits_each_offset() -> None:
    tracker = CommitTracker()
    tracker.start(P, 0)
    tracker.start(P, 1)
    assert tracker.done(P, 0) == 1
    assert tracker.done(P, 1) == 2


def test_partitions_are_independent() -> None:
    tracker = CommitTracker()
    other = ("helicase.commands", 1)
    tracker.start(P, 5)
    tracker.start(other, 7)
    assert tracker.done(other, 7) == 8
    assert tracker.in_flight() == 1


def test_done_after_forget_is_ignored() -> None:
    tracker = CommitTracker()
    tracker.start(P, 3)
    tracker.forget(P)
    assert tracker.done(P, 3) is None
    assert tracker.in_flight() == 0


@given(st.integers(0, 1000), st.permutations(list(range(20))))
def test_commits_never_pass_an_unfinished_offset_and_reach_the_end(
    base: int, finish_order: list[int]
) -> None:
    tracker = CommitTracker()
    offsets = [base + i for i in range(20)]
    for offset in offsets:
        tracker.start(P, offset)
    finished: set[int] = set()
    last = -1
    for index in finish_order:
        finished.add(offsets[index])
        commit = tracker.done(P, offsets[index])
        if commit is not None:
            assert commit > last  # only forward
            assert all(o in finished for o in range(base, commit))  # nothing unfinished before
            last = commit
    assert last == base + 20

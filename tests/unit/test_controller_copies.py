"""Held copies of participants' events: dropped when the participant confirms its own, published
when it does not (stream ended, or too late)."""

from __future__ import annotations

from helicase.controller._copies import Copy, HeldCopies

A = ("w1", "a", 1, 1)
B = ("w1", "b", 1, 1)


def copy(value: bytes, since: float = 0.0) -> Copy:
    return Copy("w1", value, since)


def test_a_confirmation_drops_the_copy_whichever_comes_first() -> None:
    held = HeldCopies()
    held.hold("p1", A, copy(b"a"))
    held.confirm("p1", A, 1.0)
    held.confirm("p1", B, 1.0)  # before its copy is held: the stream outran the commit
    held.hold("p1", B, copy(b"b"))
    assert len(held) == 0
    assert held.release("p1") == [] and held.due(100.0) == []


def test_a_copy_is_not_dropped_by_another_participants_confirmation() -> None:
    held = HeldCopies()
    held.hold("p1", A, copy(b"a"))
    held.confirm("p2", A, 1.0)
    assert [c.value for c in held.release("p1")] == [b"a"]


def test_a_stream_end_releases_only_that_participants_copies() -> None:
    held = HeldCopies()
    held.hold("p1", A, copy(b"a"))
    held.hold("p2", B, copy(b"b"))
    assert [c.value for c in held.release("p1")] == [b"a"]
    assert len(held) == 1
    assert [c.value for c in held.release_all()] == [b"b"]


def test_copies_past_patience_are_due_and_old_confirmations_are_forgotten() -> None:
    held = HeldCopies(patience=5.0, memory=60.0)
    held.hold("p1", A, copy(b"a", since=0.0))
    held.hold("p1", B, copy(b"b", since=3.0))
    assert [c.value for c in held.due(5.0)] == [b"a"]
    assert [c.value for c in held.due(8.0)] == [b"b"]
    held.confirm("p1", A, 10.0)  # its copy is gone already
    held.due(70.0)  # forgotten now: a copy held later for the same key is kept
    held.hold("p1", A, copy(b"again", since=70.0))
    assert len(held) == 1


def test_a_workflows_end_waits_for_its_held_copies() -> None:
    held = HeldCopies()
    held.hold("p1", A, copy(b"a"))
    held.hold("p2", B, copy(b"b"))
    end = Copy("w1", b"end", 0.0)
    assert held.after(end) == []
    assert held.after(Copy("w2", b"other", 0.0)) == [Copy("w2", b"other", 0.0)]  # nothing held
    assert held.confirm("p1", A, 1.0) == []
    assert held.release("p2") == [copy(b"b"), end]  # the copy, then the end, in that order


def test_a_workflows_end_goes_out_with_the_last_confirmation() -> None:
    held = HeldCopies()
    held.hold("p1", A, copy(b"a"))
    end = Copy("w1", b"end", 0.0)
    held.after(end)
    assert held.confirm("p1", A, 1.0) == [end]
    assert held.release_all() == []

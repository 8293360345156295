"""The scheduler's command intake: it reads no more while too many commands, or too many bytes
of them, are held."""

from __future__ import annotations

from helicase.scheduler.consume import Intake


def test_intake_pauses_at_its_count_or_its_bytes_and_resumes_below_both() -> None:
    intake = Intake(max_waiting=3, max_bytes=16 << 20)
    assert not intake.full(waiting=2)
    assert intake.full(waiting=3)
    intake.hold(8 << 20)
    assert not intake.full(waiting=1)
    intake.hold(8 << 20)  # two launches of 8 MiB: the bytes alone fill it
    assert intake.full(waiting=0)
    assert not intake.full(waiting=0, held_bytes=8 << 20)  # one waits for its tenant's turn
    intake.release(8 << 20)
    assert not intake.full(waiting=0) and intake.bytes == 8 << 20

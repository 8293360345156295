"""Timers that outlive a leader, and a rescheduled attempt held to its timeout."""

from __future__ import annotations

from collections.abc import Sequence

from helicase.common.states import TS, WS
from helicase.controller import (
    CANCEL_DEADLINE,
    PARTICIPANT_GRACE,
    RESCHEDULE,
    RETRY,
    TASK_DEADLINE,
    TASK_DEADLINE_GRACE,
    StartTimer,
)
from helicase.controller.testing import Harness, assigns
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome


def timers(actions: Sequence[object], kind: str) -> list[StartTimer]:
    return [a for a in actions if isinstance(a, StartTimer) and a.kind == kind]


def monitor(timeout: str = "30s", attempts: int = 1) -> list[dict[str, object]]:
    return [{"id": "mon", "type": "sleep", "timeout": timeout, "retry": {"maxAttempts": attempts}}]


def test_a_rescheduled_attempt_runs_again_with_what_is_left_of_its_timeout() -> None:
    h = Harness()
    h.join("p1")
    (first,) = assigns(h.submit(monitor("30s")))
    assert first.timeout == 30.0
    h.now += 10
    out = h.result(first, Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=5.0)
    (wait,) = timers(out, RESCHEDULE)
    assert wait.delay == 5.0
    (again,) = assigns(h.fire(wait))  # 15 s after the first placement
    assert again.ref[2:] == (1, 2)  # the same attempt, a new placement
    assert again.timeout == 15.0
    assert [t.delay for t in timers([*h.timers], TASK_DEADLINE)][-1] == 15.0 + TASK_DEADLINE_GRACE


def test_a_reschedule_past_the_timeout_ends_the_attempt_timed_out_at_the_timeout() -> None:
    h = Harness()
    h.join("p1")
    (first,) = assigns(h.submit(monitor("30s", attempts=2)))
    h.now += 20
    out = h.result(first, Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=600.0)
    (wait,) = timers(out, RESCHEDULE)
    assert wait.delay == 10.0  # it may not wait past its timeout
    out = h.fire(wait)
    assert h.task_state("mon") == TS.TASK_STATE_TIMED_OUT
    assert assigns(out) == []
    (retry,) = timers(out, RETRY)  # a TIMED_OUT attempt counts as a failed one
    (second,) = assigns(h.fire(retry))
    assert second.ref[2:] == (2, 1)
    assert second.timeout == 30.0  # a new attempt gets the whole timeout again


def test_a_rescheduled_task_waiting_for_a_slot_past_its_timeout_times_out() -> None:
    h = Harness()
    h.join("p1", capacity=1)
    out = h.submit([*monitor("30s"), {"id": "hog", "type": "sleep"}])
    (first,) = assigns(out)
    out = h.result(first, Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=1.0)
    (hog,) = assigns(out)  # the freed slot goes to the other task
    h.fire(timers(out, RESCHEDULE)[0])  # ready again, but no free slot
    h.now += 60
    h.result(hog, Outcome.TASK_OUTCOME_COMPLETED)  # the slot frees after the timeout
    assert h.task_state("mon") == TS.TASK_STATE_TIMED_OUT
    assert h.state() == WS.WORKFLOW_STATE_FAILED


def test_a_waiting_retry_keeps_its_due_time_across_a_failover() -> None:
    h = Harness()
    h.join("p1")
    tasks = [{"id": "a", "type": "noop", "retry": {"maxAttempts": 2, "initialBackoff": "60s"}}]
    (first,) = assigns(h.submit(tasks))
    (retry,) = timers(h.result(first, Outcome.TASK_OUTCOME_FAILED), RETRY)
    out = h.fail_over(after=20.0)
    (again,) = timers(out, RETRY)
    assert again.key == retry.key
    assert again.delay == retry.delay - 20.0
    h.join("p1")
    (second,) = assigns(h.fire(again))
    assert second.ref[2] == 2


def test_a_waiting_reschedule_is_not_placed_early_by_a_new_leader() -> None:
    h = Harness()
    h.join("p1")
    (first,) = assigns(h.submit(monitor("3600s")))
    h.result(first, Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=300.0)
    out = h.fail_over(after=100.0)
    h.join("p1")
    assert assigns(out) == []
    (wait,) = timers(out, RESCHEDULE)
    assert wait.delay == 200.0
    (again,) = assigns(h.fire(wait))
    assert again.ref[2:] == (1, 2)
    assert again.timeout == 3600.0 - 300.0


def test_task_and_cancel_deadlines_keep_their_due_times_across_a_failover() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit([*monitor("30s"), {"id": "b", "type": "sleep"}])
    h.now += 12
    out = h.fail_over()
    (deadline,) = timers(out, TASK_DEADLINE)
    assert deadline.delay == 30.0 - 12 + TASK_DEADLINE_GRACE
    h.cancel()
    h.now += 4
    out = h.fail_over()
    (cancel,) = timers(out, CANCEL_DEADLINE)
    assert cancel.delay == h.machine.settings.cancel_deadline.total_seconds() - 4
    h.fire(cancel)
    assert h.state() == WS.WORKFLOW_STATE_CANCELED


def test_a_grace_timer_of_an_earlier_incarnation_does_not_cut_a_later_ones_grace_short() -> None:
    h = Harness()
    h.join("p1")
    h.join("p2")
    h.submit([{"id": "a", "type": "sleep"}, {"id": "b", "type": "sleep"}])
    (stale,) = timers(h.disconnect("p1"), PARTICIPANT_GRACE)  # the first incarnation dies
    h.lose("p1")  # its registration expired: lost, its task re-placed
    h.join("p1")  # restarted under the same name
    (assign,) = assigns(h.submit([{"id": "c", "type": "sleep"}], workflow_id="w2"))
    h.now += 1
    (fresh,) = timers(h.disconnect(assign.participant), PARTICIPANT_GRACE)
    assert fresh.key != stale.key
    assert assign.participant == "p1"  # the least loaded
    assert assigns(h.fire(stale)) == []  # the first incarnation's grace: the second keeps its own
    (moved,) = assigns(h.fire(fresh))  # its own grace ends: its task runs elsewhere
    assert (moved.participant, moved.ref[3]) == ("p2", 2)

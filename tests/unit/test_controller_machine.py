"""The controller's decisions, one rule at a time, driven without any server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from helicase.common import events
from helicase.common.states import TS, WS
from helicase.controller import (
    CANCEL_DEADLINE,
    PARTICIPANT_GRACE,
    RESCHEDULE,
    RETRY,
    TASK_DEADLINE,
    TASK_DEADLINE_GRACE,
    AckResult,
    Assign,
    Emit,
    Forget,
    MachineSettings,
    Persist,
    SendCancel,
    StartTimer,
    TaskResultReceived,
    WorkflowStatusChanged,
    WorkflowSubmitted,
    build,
)
from helicase.controller.testing import Harness, assigns, definition
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome
CHAIN: list[dict[str, Any]] = [
    {"id": "a", "type": "noop"},
    {"id": "b", "type": "noop", "dependsOn": ["a"]},
]


def persisted(actions: Sequence[object]) -> list[str]:
    return [a.workflow_id for a in actions if isinstance(a, Persist)]


def task_events(actions: Sequence[object]) -> list[tuple[str, int]]:
    return [
        (a.event.task_event.task_id, a.event.task_event.state)
        for a in actions
        if isinstance(a, Emit) and a.event.HasField("task_event")
    ]


def workflow_events(actions: Sequence[object]) -> list[int]:
    return [
        a.event.workflow_event.state
        for a in actions
        if isinstance(a, Emit) and a.event.HasField("workflow_event")
    ]


def test_submit_emits_running_and_places_only_the_roots() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(CHAIN)
    assert workflow_events(out) == [WS.WORKFLOW_STATE_RUNNING]
    assert [(a.participant, a.ref) for a in assigns(out)] == [("p1", ("w1", "a", 1, 1))]
    assert ("a", TS.TASK_STATE_ASSIGNED) in task_events(out)
    assert persisted(out) == ["w1"]
    assert h.task_state("b") == TS.TASK_STATE_PENDING


def test_every_action_carries_the_stimulus_id_and_transitions_are_logged() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(CHAIN)
    assert out and all(a.stimulus_id.startswith("submit-") for a in out)
    log = [t for t in h.machine.transitions if t.task_id == "a"]
    assert [(t.start, t.finish) for t in log] == [
        (TS.TASK_STATE_PENDING, TS.TASK_STATE_READY),
        (TS.TASK_STATE_READY, TS.TASK_STATE_ASSIGNED),
    ]


def test_dependents_become_ready_when_all_dependencies_completed() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(
        [
            {"id": "a", "type": "noop"},
            {"id": "b", "type": "noop"},
            {"id": "c", "type": "noop", "dependsOn": ["a", "b"]},
        ]
    )
    a, b = assigns(out)
    out = h.result(a, Outcome.TASK_OUTCOME_COMPLETED)
    assert not assigns(out) and h.task_state("c") == TS.TASK_STATE_PENDING
    out = h.result(b, Outcome.TASK_OUTCOME_COMPLETED)
    assert [x.ref[1] for x in assigns(out)] == ["c"]
    out = h.result(assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED
    assert workflow_events(out) == [WS.WORKFLOW_STATE_COMPLETED]
    assert any(isinstance(x, WorkflowStatusChanged) for x in out)


def test_an_accepted_result_is_acked_and_persisted_without_a_second_event() -> None:
    # The participant published the result's event durably before it reported the result.
    h = Harness()
    h.join("p1")
    a = assigns(h.submit(CHAIN))[0]
    out = h.result(a, Outcome.TASK_OUTCOME_COMPLETED, outputs={"n": 1})
    assert not [x for x in out if isinstance(x, Emit) and x.event.task_event.task_id == "a"]
    assert AckResult(participant="p1", ref=a.ref) in out
    assert persisted(out) == ["w1"]
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED


def test_an_outcome_the_participant_does_not_know_is_recorded_as_failed_by_the_controller() -> None:
    h = Harness()
    h.join("p1")
    a = assigns(h.submit(CHAIN))[0]
    out = h.result(a, 99)
    failed = next(x.event for x in out if isinstance(x, Emit) and x.event.task_event.task_id == "a")
    assert failed.event_id == events.task_event_id("w1", "a", 1, 1, TS.TASK_STATE_FAILED)
    assert failed.task_event.participant == "p1"
    assert failed.task_event.message == "outcome 99"


def test_stale_and_unknown_results_are_answered_and_change_nothing() -> None:
    h = Harness()
    h.join("p1")
    h.submit(CHAIN)
    # A workflow the controller does not hold finished and was released: nothing of it runs
    # again. Any other result that is not the task's live placement is superseded.
    for ref, taken in [
        (("w1", "a", 1, 9), False),
        (("w1", "a", 0, 1), False),
        (("nope", "a", 1, 1), True),
        (("w1", "zz", 1, 1), False),
    ]:
        out = h.handle(
            TaskResultReceived(
                stimulus_id="stale", now=h.now, participant="p1", ref=ref,
                outcome=Outcome.TASK_OUTCOME_COMPLETED,
            )
        )  # fmt: skip
        assert out == [AckResult(participant="p1", ref=ref, taken=taken)]
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED


def given_up() -> tuple[Harness, Assign]:
    """p0 held `a` when its stream broke and did not come back within the grace: `a` waits to be
    placed again (no other participant yet). Returns the harness and p0's assignment."""
    h = Harness()
    h.join("p0", capacity=1)
    first = assigns(h.submit(CHAIN))[0]
    h.disconnect("p0")
    h.fire_all(PARTICIPANT_GRACE)
    assert h.task_state("a") == TS.TASK_STATE_READY
    return h, first


def test_a_late_completed_result_of_a_placement_given_up_is_taken_and_never_run_again() -> None:
    # p0 comes back with `a` COMPLETED: the controller takes that result, never places `a` again,
    # and `b` follows.
    h, first = given_up()
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    assert [a for a in out if isinstance(a, AckResult)] == [
        AckResult(participant="p0", ref=first.ref)
    ]
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED
    later = assigns(h.join("p0", capacity=1))
    assert [a.ref[1] for a in later] == ["b"]


def test_a_late_completed_result_stops_the_later_placement_in_flight() -> None:
    h, first = given_up()
    second = assigns(h.join("p1", capacity=1))[0]
    assert second.ref == ("w1", "a", 1, 2)
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    cancels = [a for a in out if isinstance(a, SendCancel)]
    assert [(c.participant, c.ref) for c in cancels] == [("p1", second.ref)]
    assert [a.ref[1] for a in assigns(out)] == ["b"]  # on p1, whose slot the cancel freed
    # The stopped placement's answer is superseded; a repeat of the taken result is taken.
    out = h.result(second, Outcome.TASK_OUTCOME_CANCELED)
    assert out == [AckResult(participant="p1", ref=second.ref, taken=False)]
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    assert out == [AckResult(participant="p0", ref=first.ref, taken=True)]


def test_a_failed_result_of_a_placement_given_up_is_superseded() -> None:
    h, first = given_up()
    out = h.result(first, Outcome.TASK_OUTCOME_FAILED)
    assert out == [AckResult(participant="p0", ref=first.ref, taken=False)]
    assert h.task_state("a") == TS.TASK_STATE_READY


def test_placement_fills_the_least_loaded_within_capacity() -> None:
    h = Harness()
    h.join("p1", capacity=2)
    h.join("p2", capacity=1)
    out = h.submit([{"id": f"t{i}", "type": "noop"} for i in range(5)])
    placed = assigns(out)
    assert sorted(a.participant for a in placed) == ["p1", "p1", "p2"]
    assert h.task_state("t3") == TS.TASK_STATE_READY
    out = h.result(placed[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert [a.ref[1] for a in assigns(out)] == ["t3"]


def test_placement_honours_instance_group_and_task_type() -> None:
    h = Harness()
    h.join("cpu", group="default", types={"noop"})
    h.join("gpu", group="gpu", types={"train"})
    out = h.submit(
        [
            {"id": "a", "type": "noop"},
            {"id": "b", "type": "train", "instanceGroup": "gpu"},
            {"id": "c", "type": "train"},  # nobody serves train in default
        ]
    )
    assert {a.ref[1]: a.participant for a in assigns(out)} == {"a": "cpu", "b": "gpu"}
    assert h.task_state("c") == TS.TASK_STATE_READY


def test_a_ready_task_waits_until_a_participant_joins() -> None:
    h = Harness()
    h.submit([{"id": "a", "type": "noop"}])
    assert h.task_state("a") == TS.TASK_STATE_READY
    out = h.join("late", capacity=1)
    assert [a.participant for a in assigns(out)] == ["late"]


def test_oldest_ready_task_is_placed_first_across_workflows() -> None:
    h = Harness()
    h.submit([{"id": "x", "type": "noop"}], workflow_id="first")
    h.submit([{"id": "y", "type": "sleep"}], workflow_id="second")
    h.submit([{"id": "z", "type": "noop"}], workflow_id="third")
    out = h.join("p", capacity=1)
    assert [a.ref[0] for a in assigns(out)] == ["first"]
    out = h.result(assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED)
    assert [a.ref[0] for a in assigns(out)] == ["second"]


def test_params_resolve_outputs_of_completed_dependencies() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(
        [
            {"id": "make", "type": "noop"},
            {
                "id": "use",
                "type": "sleep",
                "dependsOn": ["make"],
                "params": {
                    "command": "ls ${tasks.make.outputs.dir} ${tasks.make.outputs.n}",
                    "n": "${tasks.make.outputs.n}",
                    "meta": ["${tasks.make.outputs.meta}"],
                },
            },
        ]
    )
    out = h.result(
        assigns(out)[0],
        Outcome.TASK_OUTCOME_COMPLETED,
        outputs={"dir": "/x", "n": 3.0, "meta": {"k": True}},
    )
    assert assigns(out)[0].params == {"command": "ls /x 3", "n": 3.0, "meta": [{"k": True}]}


def test_a_failed_attempt_is_retried_after_backoff_then_fails_the_workflow() -> None:
    h = Harness()
    h.join("p1")
    retry = {"maxAttempts": 2, "initialBackoff": "2s"}
    a = assigns(h.submit([{"id": "a", "type": "shell", "retry": retry}]))[0]
    out = h.result(a, Outcome.TASK_OUTCOME_FAILED, message="boom")
    (timer,) = [t for t in out if isinstance(t, StartTimer)]
    assert timer.kind == RETRY and timer.key == ("w1", "a", 1)
    assert 1.6 <= timer.delay <= 2.4
    assert h.task_state("a") == TS.TASK_STATE_FAILED and h.state() == WS.WORKFLOW_STATE_RUNNING
    second = assigns(h.fire(timer))[0]
    assert second.ref == ("w1", "a", 2, 1)
    out = h.result(second, Outcome.TASK_OUTCOME_TIMED_OUT, message="too slow")
    assert h.state() == WS.WORKFLOW_STATE_FAILED
    assert h.machine.workflows["w1"].message == "task a TIMED_OUT after 2 attempts: too slow"
    assert not [t for t in out if isinstance(t, StartTimer) and t.kind == RETRY]


def test_fatal_failure_under_fail_fast_cancels_running_and_skips_waiting() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(
        [
            {"id": "b", "type": "shell"},
            {"id": "long", "type": "sleep"},
            {"id": "after", "type": "noop", "dependsOn": ["b"]},
        ]
    )
    bad = next(a for a in assigns(out) if a.ref[1] == "b")
    long = next(a for a in assigns(out) if a.ref[1] == "long")
    out = h.result(bad, Outcome.TASK_OUTCOME_FATAL_FAILED, message="exit code 3")
    reason = "task b FATAL_FAILED: exit code 3"
    assert h.state() == WS.WORKFLOW_STATE_FAILED
    assert h.machine.workflows["w1"].message == reason
    assert SendCancel(participant="p1", ref=long.ref, reason=reason) in out
    assert ("long", TS.TASK_STATE_CANCELED) in task_events(out)
    assert ("after", TS.TASK_STATE_SKIPPED) in task_events(out)
    assert workflow_events(out) == [WS.WORKFLOW_STATE_FAILED]
    assert not [t for t in out if isinstance(t, StartTimer) and t.kind == RETRY]
    # The cancelled task's late result is acked; nothing changes; its slot is freed.
    late = h.result(long, Outcome.TASK_OUTCOME_CANCELED)
    assert late == [AckResult(participant="p1", ref=long.ref)]
    assert h.machine.pool.get("p1").load == set()  # type: ignore[union-attr]


def test_continue_policy_skips_dependents_and_fails_at_the_end() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(
        [
            {"id": "bad", "type": "noop", "retry": {"maxAttempts": 1}},
            {"id": "child", "type": "noop", "dependsOn": ["bad"]},
            {"id": "grandchild", "type": "noop", "dependsOn": ["child"]},
            {"id": "other", "type": "noop"},
        ],
        failurePolicy="FAILURE_POLICY_CONTINUE",
    )
    bad = next(a for a in assigns(out) if a.ref[1] == "bad")
    other = next(a for a in assigns(out) if a.ref[1] == "other")
    out = h.result(bad, Outcome.TASK_OUTCOME_FAILED, message="disk busy")
    assert h.task_state("child") == TS.TASK_STATE_SKIPPED
    assert h.task_state("grandchild") == TS.TASK_STATE_SKIPPED
    assert h.state() == WS.WORKFLOW_STATE_RUNNING and not any(
        isinstance(a, SendCancel) for a in out
    )
    h.result(other, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.state() == WS.WORKFLOW_STATE_FAILED
    assert h.machine.workflows["w1"].message.startswith("task bad FAILED after 1 attempts")


def test_fatal_failure_stops_the_workflow_at_once_even_under_continue() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit(
        [{"id": "bad", "type": "noop"}, {"id": "other", "type": "sleep"}],
        failurePolicy="FAILURE_POLICY_CONTINUE",
    )
    bad = next(a for a in assigns(out) if a.ref[1] == "bad")
    out = h.result(bad, Outcome.TASK_OUTCOME_FATAL_FAILED, message="bad key")
    assert h.state() == WS.WORKFLOW_STATE_FAILED
    assert any(isinstance(a, SendCancel) for a in out)
    assert h.task_state("other") == TS.TASK_STATE_CANCELED


def test_reschedule_frees_the_slot_and_places_the_same_attempt_after_the_delay() -> None:
    h = Harness()
    h.join("p1", capacity=1)
    out = h.submit([{"id": "watch", "type": "sleep"}, {"id": "other", "type": "noop"}])
    first = assigns(out)[0]
    out = h.result(first, Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=30.0)
    (timer,) = [t for t in out if isinstance(t, StartTimer)]
    assert (timer.kind, timer.key, timer.delay) == (RESCHEDULE, first.ref, 30.0)
    assert [a.ref[1] for a in assigns(out)] == ["other"]  # the slot went to the other task
    h.result(assigns(out)[0], Outcome.TASK_OUTCOME_COMPLETED)
    again = assigns(h.fire(timer))
    assert [a.ref for a in again] == [(first.ref[0], first.ref[1], 1, 2)]


def test_cancel_stops_running_tasks_then_ends_canceled_and_is_idempotent() -> None:
    h = Harness()
    h.join("p1")
    running = assigns(h.submit(CHAIN))[0]
    out = h.cancel(reason="user")
    assert h.state() == WS.WORKFLOW_STATE_CANCELING
    stop = SendCancel(participant="p1", ref=running.ref, reason="canceled: user", given_up=False)
    assert stop in out
    assert ("b", TS.TASK_STATE_CANCELED) in task_events(out)
    assert any(isinstance(t, StartTimer) and t.kind == CANCEL_DEADLINE for t in out)
    assert h.cancel() == []
    out = h.result(running, Outcome.TASK_OUTCOME_CANCELED)
    assert h.state() == WS.WORKFLOW_STATE_CANCELED
    assert workflow_events(out) == [WS.WORKFLOW_STATE_CANCELED]
    assert h.cancel() == [] and h.fire_all(CANCEL_DEADLINE) == []


def test_cancel_deadline_ends_canceled_when_participants_never_answer() -> None:
    h = Harness()
    h.join("p1")
    h.submit(CHAIN)
    h.cancel()
    out = h.fire_all(CANCEL_DEADLINE)
    assert h.state() == WS.WORKFLOW_STATE_CANCELED
    assert ("a", TS.TASK_STATE_CANCELED) in task_events(out)


def test_cancel_of_a_terminal_workflow_changes_nothing() -> None:
    h = Harness()
    h.join("p1")
    a = assigns(h.submit([{"id": "a", "type": "noop"}]))[0]
    h.result(a, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.cancel() == [] and h.state() == WS.WORKFLOW_STATE_COMPLETED


def test_a_lost_participants_task_is_replaced_with_a_new_placement_up_to_a_bound() -> None:
    h = Harness(MachineSettings(max_replacements=2))
    h.join("p1", capacity=1)
    h.join("p2", capacity=1)
    first = assigns(h.submit([{"id": "a", "type": "noop", "retry": {"maxAttempts": 1}}]))[0]
    current = first
    for placement in (2, 3):
        out = h.lose(current.participant)
        current = assigns(out)[0]
        assert current.ref == ("w1", "a", 1, placement)
        h.join(first.participant if current.participant != first.participant else "p2", 1)
    out = h.lose(current.participant)
    assert h.state() == WS.WORKFLOW_STATE_FAILED
    assert "lost" in h.machine.workflows["w1"].message
    # A late result of the first placement is stale: the workflow ended; it is superseded.
    assert h.result(first, Outcome.TASK_OUTCOME_COMPLETED) == [
        AckResult(participant=first.participant, ref=first.ref, taken=False)
    ]


def test_a_disconnected_participant_gets_a_grace_period_then_is_lost() -> None:
    h = Harness(MachineSettings(participant_grace=timedelta(seconds=5)))
    h.join("p1", capacity=1)
    a = assigns(h.submit([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]))[0]
    out = h.disconnect("p1")
    (grace,) = [t for t in out if isinstance(t, StartTimer)]
    assert grace.kind == PARTICIPANT_GRACE and grace.delay == 5.0
    # Back in time, still running its task: nothing is re-placed, the old timer is void.
    out = h.join("p1", capacity=1, running=[a.ref])
    assert not assigns(out)
    assert h.fire(grace) == []
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED
    # Gone for good this time.
    h.disconnect("p1")
    h.join("p2", capacity=2)  # takes b at once
    out = h.fire_all(PARTICIPANT_GRACE)
    assert [(x.participant, x.ref) for x in assigns(out)] == [("p2", ("w1", "a", 1, 2))]


def test_a_reconnecting_participant_gets_lost_assignments_again_and_stale_ones_cancelled() -> None:
    h = Harness()
    h.join("p1", capacity=2)
    a, b = assigns(h.submit([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]))
    h.disconnect("p1")
    out = h.join("p1", capacity=2, running=[a.ref, ("w1", "zombie", 1, 1)])
    assert [x.ref for x in assigns(out)] == [b.ref]  # same ref: not a new placement
    assert SendCancel(participant="p1", ref=("w1", "zombie", 1, 1), reason="superseded") in out


def test_submit_is_idempotent_and_release_forgets_only_terminal_workflows() -> None:
    h = Harness()
    h.join("p1")
    a = assigns(h.submit([{"id": "a", "type": "noop"}]))[0]
    assert h.submit([{"id": "a", "type": "noop"}]) == []
    assert h.release() == []  # still running
    h.result(a, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.release() == [Forget(workflow_id="w1")]
    assert "w1" not in h.machine.workflows


def test_an_empty_workflow_completes_at_once() -> None:
    h = Harness()
    h.submit([])
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED


def test_the_controller_times_out_a_task_whose_participant_never_reports() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit([{"id": "hung", "type": "sleep", "timeout": "30s", "retry": {"maxAttempts": 1}}])
    (assign,) = assigns(out)
    deadlines = [t for t in out if isinstance(t, StartTimer) and t.kind == TASK_DEADLINE]
    assert [t.delay for t in deadlines] == [30 + TASK_DEADLINE_GRACE]
    out = h.fire(deadlines[0])
    assert any(isinstance(a, SendCancel) and a.ref == assign.ref for a in out)
    assert h.task_state("hung") == TS.TASK_STATE_TIMED_OUT
    assert h.state() == WS.WORKFLOW_STATE_FAILED


def test_a_deadline_after_the_result_changes_nothing() -> None:
    h = Harness()
    h.join("p1")
    out = h.submit([{"id": "quick", "type": "sleep", "timeout": "30s"}])
    (assign,) = assigns(out)
    (deadline,) = [t for t in out if isinstance(t, StartTimer) and t.kind == TASK_DEADLINE]
    h.result(assign, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.fire(deadline) == []
    assert h.state() == WS.WORKFLOW_STATE_COMPLETED


def test_a_new_leader_publishes_again_what_its_state_records_as_decided() -> None:
    # The old leader cancelled the workflow and died before Kafka had its events: the new one
    # publishes the workflow's state and every final outcome it decided (not COMPLETED ones,
    # which participants publish before reporting them) with the same event ids.
    h = Harness()
    h.join("p1", capacity=1)
    first = assigns(h.submit([*CHAIN, {"id": "c", "type": "noop", "dependsOn": ["b"]}]))[0]
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    decided = [a.event for a in h.cancel() if isinstance(a, Emit)]  # b in flight, c CANCELED
    out = h.fail_over()
    again = [a.event for a in out if isinstance(a, Emit)]
    assert {e.event_id for e in again} <= {e.event_id for e in decided}
    assert sorted(e.task_event.task_id for e in again if e.HasField("task_event")) == ["c"]
    assert [e.workflow_event.state for e in again if e.HasField("workflow_event")] == [
        WS.WORKFLOW_STATE_CANCELING
    ]


def test_a_duration_no_timedelta_can_hold_is_taken_as_the_longest_one() -> None:
    # A launch command that did not pass the api (garbage on the commands topic, found by
    # make fuzz's reading) may carry any int64 seconds; Duration.ToTimedelta() raised
    # OverflowError in placement, the machine failed and the leader resigned, again and again.
    h = Harness()
    h.join("p1")
    workflow = definition([{"id": "a", "type": "sleep"}])
    workflow.tasks[0].timeout.seconds = 2**62
    workflow.tasks[0].retry.initial_backoff.seconds = 10**14
    workflow.tasks[0].retry.max_backoff.seconds = 2**63 - 1
    out = h.handle(WorkflowSubmitted(stimulus_id="s1", now=h.now, definition=build(workflow)))
    assert len(assigns(out)) == 1
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED

"""The controller takes a task's result only from the participant that holds its placement."""

from __future__ import annotations

from datetime import timedelta

from helicase.common.states import TS
from helicase.controller import AckResult, Assign, MachineSettings
from helicase.controller.testing import Harness, assigns
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome
ONE = [{"id": "a", "type": "noop"}]


def test_a_result_from_a_participant_that_does_not_hold_the_placement_is_not_taken() -> None:
    h = Harness()
    h.join("p0")
    h.join("intruder", types=())  # connected, never given the task
    first = assigns(h.submit(ONE))[0]
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant="intruder")
    assert [a for a in out if isinstance(a, AckResult)] == [
        AckResult(participant="intruder", ref=first.ref, taken=False)
    ]
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED  # still p0's
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED


def test_a_late_result_from_a_participant_of_another_group_is_not_taken() -> None:
    h = Harness(MachineSettings(participant_grace=timedelta(seconds=1)))
    h.join("p0")
    first = assigns(h.submit(ONE))[0]
    h.disconnect("p0")
    h.fire_all("participant-grace")  # p0 given up: `a` waits for another participant
    h.join("elsewhere", group="gpu")
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant="elsewhere")
    assert h.task_state("a") == TS.TASK_STATE_READY


def given_up_and_placed_again(h: Harness) -> tuple[Assign, Assign]:
    """`a` placed on p0, p0 lost, `a` placed again on p1; p2 of the same group stands by.
    Returns both assignments."""
    h.join("p0", capacity=1)
    first = assigns(h.submit(ONE))[0]
    h.disconnect("p0")
    h.fire_all("participant-grace")  # p0 given up: `a` waits for another participant
    second = assigns(h.join("p1", capacity=1))[0]
    assert second.ref == ("w1", "a", 1, 2)
    h.join("p2", capacity=1)
    return first, second


def test_a_late_result_of_an_earlier_placement_is_taken_only_from_its_holder() -> None:
    h = Harness(MachineSettings(participant_grace=timedelta(seconds=1)))
    first, _ = given_up_and_placed_again(h)
    for other in ("p1", "p2"):  # same group, never held placement 1
        out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant=other)
        assert out == [AckResult(participant=other, ref=first.ref, taken=False)]
        assert h.task_state("a") == TS.TASK_STATE_ASSIGNED  # still p1's placement 2
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED)  # p0, which held placement 1
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED


def test_the_holder_of_an_earlier_placement_survives_a_failover() -> None:
    h = Harness(MachineSettings(participant_grace=timedelta(seconds=1)))
    first, second = given_up_and_placed_again(h)
    h.fail_over()  # the new leader knows placement 1 was p0's from the stored state
    h.join("p1", capacity=1, running=[second.ref])
    h.join("p2", capacity=1)
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant="p2")
    assert out == [AckResult(participant="p2", ref=first.ref, taken=False)]
    assert h.task_state("a") == TS.TASK_STATE_ASSIGNED
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant="p0")
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED


def test_a_late_result_of_a_timed_out_placement_is_taken_only_from_its_holder() -> None:
    h = Harness()
    h.join("p0", capacity=1)
    h.join("p1", capacity=1)
    tasks = [{"id": "a", "type": "noop", "timeout": "10s", "retry": {"maxAttempts": 2}}]
    first = assigns(h.submit(tasks))[0]
    h.fire_all("task-deadline")  # timed out: the retry waits out its backoff
    assert h.task_state("a") == TS.TASK_STATE_TIMED_OUT
    other = "p1" if first.participant == "p0" else "p0"
    out = h.result(first, Outcome.TASK_OUTCOME_COMPLETED, participant=other)
    assert out == [AckResult(participant=other, ref=first.ref, taken=False)]
    assert h.task_state("a") == TS.TASK_STATE_TIMED_OUT
    h.result(first, Outcome.TASK_OUTCOME_COMPLETED)
    assert h.task_state("a") == TS.TASK_STATE_COMPLETED

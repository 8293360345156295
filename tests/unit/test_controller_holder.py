"""The controller takes a task's result only from the participant that holds its placement."""

from __future__ import annotations

from datetime import timedelta

from helicase.common.states import TS
from helicase.controller import AckResult, MachineSettings
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

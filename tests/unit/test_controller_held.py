"""What a group commit lets out of the held stream messages of its steps (`to_send`)."""

from __future__ import annotations

from datetime import timedelta

from helicase.controller import AckResult, Assign, MachineSettings, SendCancel, to_send
from helicase.controller.testing import Harness, assigns
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome
ONE = [{"id": "a", "type": "noop", "timeout": "1s", "retry": {"maxAttempts": 1}}]


def test_an_assignment_given_up_in_the_same_batch_is_withdrawn_and_its_cancel_sent() -> None:
    h = Harness(MachineSettings(participant_grace=timedelta(seconds=1)))
    h.join("p0")
    first = assigns(h.submit(ONE))[0]
    h.fail_over()
    h.fire_all("participant-grace")  # p0 lost: a is placed again when p1 joins
    held = h.join("p1")
    again = assigns(held)[0]
    held += h.result(first, Outcome.TASK_OUTCOME_COMPLETED)  # the first placement's result
    sent = to_send(held)
    assert again not in sent
    assert [(type(a), a.ref) for a in sent if isinstance(a, SendCancel)] == [
        (SendCancel, again.ref)
    ]
    assert isinstance(sent[-1], AckResult) and sent[-1].ref == first.ref


def test_an_assignment_whose_attempt_timed_out_in_the_same_batch_is_withdrawn() -> None:
    h = Harness()
    h.join("p0")
    held = h.submit(ONE)
    assignment = assigns(held)[0]
    held += h.fire_all("task-deadline")
    assert assignment not in to_send(held)


def test_an_assignment_then_a_workflow_cancel_go_out_both_in_order() -> None:
    h = Harness()
    h.join("p0")
    held = h.submit(ONE)
    held += h.cancel()  # the placement stays live until its CANCELED result
    sent = [a for a in to_send(held) if isinstance(a, Assign | SendCancel)]
    assert [type(a) for a in sent] == [Assign, SendCancel]
    assert sent[0].ref == sent[1].ref


def test_acknowledgements_go_out_last() -> None:
    h = Harness()
    h.join("p0", capacity=1)
    first = assigns(h.submit([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]))[0]
    held = h.result(first, Outcome.TASK_OUTCOME_COMPLETED)  # frees the slot: b is placed
    assert [type(a) for a in to_send(held) if isinstance(a, Assign | AckResult)] == [
        Assign,
        AckResult,
    ]

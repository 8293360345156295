"""Dead letters, the pure parts: the headers a letter carries and how the api reads them back,
letter ids and page tokens, where a replay may go, what the scheduler refuses as a command, and
what the controller makes of a participant's unreadable result."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kazoo.exceptions import ConnectionLoss

from helicase.api.dead_letters import codec
from helicase.api.dead_letters.codec import Position
from helicase.common import deadletter, tracing
from helicase.common.errors import InvalidArgument
from helicase.controller import _reader
from helicase.internal.v1 import command_pb2, participant_pb2
from helicase.scheduler.decoding import decode_command, transient
from helicase.v1 import dead_letter_pb2

EVENTS = dead_letter_pb2.DEAD_LETTER_KIND_EVENTS


def test_a_letter_reads_back_its_reason_origin_time_and_consumer() -> None:
    origin = deadletter.Origin("t1.helicase.events", 2, 41, {deadletter.PARTICIPANT: "g/p"})
    headers: Any = deadletter.headers("x" * 5000, origin, "sink", now_ms=1_700_000_000_123)
    value = b"v" * 5000
    letter = codec.to_letter(Position(EVENTS, 0, 7), b"key", value, headers)
    assert letter.id == "events/0/7" and letter.offset == 7
    assert (letter.origin_topic, letter.origin_partition, letter.origin_offset) == (
        "t1.helicase.events",
        2,
        41,
    )
    assert len(letter.reason) == deadletter.MAX_REASON_CHARS and letter.reason.endswith("…")
    assert letter.consumer == "sink" and letter.participant == "g/p"
    assert letter.dead_letter_time.ToMilliseconds() == 1_700_000_000_123
    assert letter.value_size == 5000 and len(letter.value_preview) == codec.PREVIEW_BYTES


def test_a_letter_cut_to_fit_reports_its_real_size() -> None:
    headers: Any = [
        *deadletter.headers("why", deadletter.Origin("t", 0, 1), "sink"),
        (deadletter.TRUNCATED_FROM, b"30000000"),
    ]
    letter = codec.to_letter(Position(EVENTS, 0, 1), None, b"v" * 100, headers)
    assert letter.value_size == 30_000_000


def test_a_letter_without_headers_reads_as_unknown_origin() -> None:
    letter = codec.to_letter(Position(EVENTS, 0, 1), None, b"", None)
    assert letter.origin_partition == -1 and not letter.HasField("dead_letter_time")


@given(st.sampled_from(sorted(codec.KINDS)), st.integers(0, 99), st.integers(0, 2**40))
def test_letter_ids_round_trip(kind: int, partition: int, offset: int) -> None:
    position = Position(kind, partition, offset)
    assert codec.parse_letter_id(codec.letter_id(position)) == position


@pytest.mark.parametrize("raw", ["", "events", "events/0", "x/0/1", "events/-1/2", "events/a/1"])
def test_other_strings_are_no_letter_ids(raw: str) -> None:
    assert codec.parse_letter_id(raw) is None


def test_a_page_token_is_bound_to_its_kind_filter() -> None:
    token = codec.encode_token(Position(EVENTS, 0, 5), EVENTS)
    assert codec.decode_token(token, EVENTS) == Position(EVENTS, 0, 5)
    with pytest.raises(InvalidArgument):
        codec.decode_token(token, dead_letter_pb2.DEAD_LETTER_KIND_UNSPECIFIED)
    with pytest.raises(InvalidArgument):
        codec.decode_token("not a token", EVENTS)


def test_letters_go_back_only_to_this_suites_events_and_commands() -> None:
    assert codec.replay_topic("t1.helicase.events", "t1.") == "helicase.events"
    assert codec.replay_topic("t1.helicase.commands", "t1.") == "helicase.commands"
    assert codec.replay_topic("t2.helicase.events", "t1.") is None
    assert codec.replay_topic("t1.helicase.events.dlq", "t1.") is None
    assert codec.replay_topic("", "") is None


def test_page_sizes_and_kinds_are_checked() -> None:
    assert codec.check_page_size(0) == codec.DEFAULT_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        codec.check_page_size(codec.MAX_PAGE_SIZE + 1)
    assert codec.kinds_of(0) == sorted(codec.KINDS)
    with pytest.raises(InvalidArgument):
        codec.kinds_of(99)


# --- the scheduler's commands


def test_the_scheduler_says_why_a_command_is_unusable() -> None:
    launch = command_pb2.Command(workflow_id=str(uuid.uuid4()))
    launch.launch.workflow.display_name = "w"
    assert decode_command(launch.SerializeToString()) == (launch, "")
    assert decode_command(None)[1] == "empty message"
    assert "not a helicase.internal.v1.Command" in decode_command(b"\xff\xff")[1]
    neither = command_pb2.Command(workflow_id=str(uuid.uuid4()))
    assert "neither" in decode_command(neither.SerializeToString())[1]
    launch.workflow_id = "../x"
    assert "not a workflow id" in decode_command(launch.SerializeToString())[1]
    # The workflow the launch carries is the one its workflow_id names (a garbage launch with
    # another id, "../../x" say, reached the controller's ZooKeeper paths).
    launch.workflow_id = str(uuid.uuid4())
    launch.launch.workflow.id = "../../x"
    assert "is not the command's workflow" in decode_command(launch.SerializeToString())[1]
    launch.launch.workflow.id = launch.workflow_id
    assert decode_command(launch.SerializeToString()) == (launch, "")


def test_outages_are_transient_and_other_failures_are_not() -> None:
    assert transient(ConnectionLoss())
    assert transient(TimeoutError())
    assert not transient(ValueError("bad"))
    assert not transient(KeyError("x"))

    class Refused(grpc.aio.AioRpcError):  # type: ignore[misc]
        def __init__(self, code: grpc.StatusCode) -> None:
            super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "d")

    assert transient(Refused(grpc.StatusCode.UNAVAILABLE))
    assert not transient(Refused(grpc.StatusCode.INVALID_ARGUMENT))


# --- the controller's reader


def result(outputs: dict[str, Any]) -> participant_pb2.ConnectRequest:
    r = participant_pb2.TaskResult(outcome=participant_pb2.TASK_OUTCOME_COMPLETED)
    r.task.workflow_id, r.task.task_id, r.task.attempt, r.task.placement = "w", "a", 1, 1
    r.outputs.update(outputs)
    return participant_pb2.ConnectRequest(result=r)


class Shell:
    def __init__(self) -> None:
        self.put_: list[Any] = []

    def put(self, stimulus: Any) -> None:
        self.put_.append(stimulus)


def test_an_unreadable_result_is_parked_and_counts_as_a_failed_attempt() -> None:
    shell, parked = Shell(), []
    message = result({"x": float("nan")})
    _reader.handle(shell, "p", message, lambda m, why: parked.append((m, why)))  # type: ignore[arg-type]
    assert parked and parked[0][0] is message and "NaN" in parked[0][1]
    (stimulus,) = shell.put_
    assert stimulus.outcome == participant_pb2.TASK_OUTCOME_FAILED
    assert stimulus.ref == ("w", "a", 1, 1) and stimulus.participant == "p"
    assert stimulus.message.startswith("the participant's result could not be read")


def test_a_readable_result_is_passed_on_as_it_is() -> None:
    shell, parked = Shell(), []
    _reader.handle(shell, "p", result({"x": 1}), lambda m, why: parked.append(why))  # type: ignore[arg-type]
    assert parked == []
    (stimulus,) = shell.put_
    assert stimulus.outcome == participant_pb2.TASK_OUTCOME_COMPLETED
    assert stimulus.outputs == {"x": 1}


def test_a_command_with_a_broken_trace_header_is_still_read() -> None:
    # The header was decoded as strict UTF-8 on the consumer's poll loop: one message with a
    # traceparent of invalid UTF-8 would have ended the scheduler's command intake for good.
    assert tracing.from_kafka_headers([("traceparent", b"\xff\xfe00-ab")]) == {
        "traceparent": "\ufffd\ufffd00-ab"
    }
    assert tracing.from_kafka_headers(None) == {}

"""Reading a participant's Connect stream: each message becomes a stimulus. A message that
cannot be read (a NaN in a result's outputs, a field out of range) costs that message only: it
is logged and dead-lettered with the participant's identity, a result among them counts as a
failed attempt (so the task is retried per its policy), and the reader goes on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import json_format

from helicase.common import topics
from helicase.common.deadletter import PARTICIPANT, DeadLetterWriter, Letter, Origin
from helicase.common.limits import seconds_of
from helicase.controller._shell import LeaderShell, new_stimulus_id
from helicase.controller._stimuli import Ref, TaskResultReceived, TaskStarted
from helicase.internal.v1 import participant_pb2

log = logging.getLogger(__name__)
Park = Callable[[participant_pb2.ConnectRequest, str], None]


def ref_of(ref: participant_pb2.TaskRef) -> Ref:
    return (ref.workflow_id, ref.task_id, ref.attempt, ref.placement)


def unreadable_result(
    name: str, result: participant_pb2.TaskResult, reason: str
) -> TaskResultReceived:
    """What a result that cannot be read counts as: a failed attempt saying why."""
    return TaskResultReceived(
        stimulus_id=new_stimulus_id("result-unreadable"),
        now=time.time(),
        participant=name,
        ref=ref_of(result.task),
        outcome=participant_pb2.TASK_OUTCOME_FAILED,
        message=f"the participant's result could not be read: {reason}"[:1000],
    )


def stimulus_of(
    name: str, message: participant_pb2.ConnectRequest
) -> TaskStarted | TaskResultReceived | None:
    """The stimulus a message is (None for a kind the controller does not take); raises
    ValueError (or OverflowError) for one that cannot be read."""
    kind = message.WhichOneof("message")
    if kind == "started":
        return TaskStarted(
            stimulus_id=new_stimulus_id("started"),
            now=time.time(),
            ref=ref_of(message.started.task),
        )
    if kind != "result":
        return None
    result = message.result
    outputs = json_format.MessageToDict(result.outputs) if result.HasField("outputs") else None
    return TaskResultReceived(
        stimulus_id=new_stimulus_id("result"),
        now=time.time(),
        participant=name,
        ref=ref_of(result.task),
        outcome=result.outcome,
        message=result.message,
        outputs=outputs,
        reschedule_after=seconds_of(result.reschedule_after),
        finished_at=result.end_time.ToNanoseconds() / 1e9 if result.HasField("end_time") else 0.0,
    )


def handle(
    shell: LeaderShell, name: str, message: participant_pb2.ConnectRequest, park: Park
) -> None:
    try:
        stimulus = stimulus_of(name, message)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        park(message, reason)
        if message.WhichOneof("message") != "result":
            return
        stimulus = unreadable_result(name, message.result, reason)
    if stimulus is not None:
        shell.put(stimulus)


class Parking:
    """Dead-letters a participant's unreadable messages without holding up its stream."""

    def __init__(self, writer: DeadLetterWriter | None, participant: str) -> None:
        self._writer = writer
        self._participant = participant
        self._sending: set[asyncio.Task[None]] = set()

    def __call__(self, message: participant_pb2.ConnectRequest, reason: str) -> None:
        log.error(
            "unreadable message from a participant",
            extra={"participant": self._participant, "reason": reason},
        )
        if self._writer is None:
            return
        origin = Origin(extra={PARTICIPANT: self._participant})
        letter = Letter(self._participant.encode(), message.SerializeToString(), reason, origin)
        sent = asyncio.create_task(self._writer.send(topics.PARTICIPANTS_DEAD_LETTER, [letter]))
        self._sending.add(sent)
        sent.add_done_callback(self._sent)

    def _sent(self, sent: asyncio.Task[None]) -> None:
        self._sending.discard(sent)
        if not sent.cancelled() and sent.exception() is not None:
            log.error("dead letter not written", extra={"error": repr(sent.exception())})


async def read(
    shell: LeaderShell,
    name: str,
    requests: AsyncIterator[participant_pb2.ConnectRequest],
    queue: asyncio.Queue[participant_pb2.ConnectResponse | None],
    park: Park,
) -> None:
    """Turns the participant's messages into stimuli; the stream's end ends the writer too."""
    try:
        async for message in requests:
            if message.WhichOneof("message") == "batch":
                for each in message.batch.messages:
                    handle(shell, name, each, park)
            else:
                handle(shell, name, message, park)
    except (grpc.aio.AioRpcError, asyncio.CancelledError):
        pass
    finally:
        queue.put_nowait(None)

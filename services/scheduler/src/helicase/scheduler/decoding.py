"""What the command loop can do with a message (pure): decode it into a usable Command or say
why not, and tell a failure worth retrying forever from one that would fail again."""

from __future__ import annotations

import uuid

import grpc
from confluent_kafka import KafkaException
from google.protobuf.message import DecodeError
from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError

from helicase.internal.v1 import command_pb2

MAX_FAILURES = 8
"""A well-formed command whose handling fails this many times in a row, none of them for an
outage (transient below), is dead-lettered: about a minute with the loop's backoff."""

_TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


def decode_command(value: bytes | None) -> tuple[command_pb2.Command | None, str]:
    """The command, or None and why the message is not a usable Command."""
    if not value:
        return None, "empty message"
    command = command_pb2.Command()
    try:
        command.ParseFromString(value)
    except DecodeError as exc:
        return None, f"not a helicase.internal.v1.Command: {exc}"
    if command.WhichOneof("command") is None:
        return None, "command has neither launch nor cancel"
    try:
        uuid.UUID(command.workflow_id)
    except ValueError:
        return None, f"workflow_id {command.workflow_id[:100]!r} is not a workflow id"
    carried = command.launch.workflow.id if command.HasField("launch") else ""
    if carried and carried != command.workflow_id:
        # The controller keys its ZooKeeper nodes by the workflow's own id.
        return None, f"launch.workflow.id {carried[:100]!r} is not the command's workflow"
    return command, ""


def transient(exc: BaseException) -> bool:
    """An outage of something the command needs (ZooKeeper, the controller, the api, Kafka):
    retrying is right however long it lasts."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in _TRANSIENT_CODES
    return isinstance(
        exc,
        (
            ConnectionLoss,
            SessionExpiredError,
            ConnectionClosedError,
            KazooTimeoutError,
            KafkaException,
            ConnectionError,
            TimeoutError,
        ),
    )

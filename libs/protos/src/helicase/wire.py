"""What every client and server of Helicase's gRPC contracts agrees on beyond the messages: the
message size limit, the channel (limits and reconnect backoff), the states a workflow never
leaves and how a refusal says when to come back (RetryInfo). Hand-written, beside the generated
helicase.v1, so that the public client (helicase.client) and the services (through
helicase.common) share one definition without either importing the other."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from helicase.v1 import workflow_pb2

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest gRPC message sent or received, by clients and servers alike."""

RECONNECT_BACKOFF_MS = (200, 2_000)
"""A channel's reconnect backoff (first, most). gRPC's own most is 120 s: a long-lived channel to
a service restarted again and again (the chaos runs kill the api every 20 s or so) grew its
backoff until its calls failed fast for minutes while the service was up."""

WORKFLOW_TERMINAL = frozenset(
    {
        workflow_pb2.WORKFLOW_STATE_COMPLETED,
        workflow_pb2.WORKFLOW_STATE_FAILED,
        workflow_pb2.WORKFLOW_STATE_CANCELED,
    }
)
"""The states a workflow never leaves (WatchWorkflow's stream ends after one of them)."""


STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""The trailing metadata that carries an error's google.rpc.Status with its details."""


def retry_delay(err: grpc.RpcError) -> float | None:
    """The seconds an error's google.rpc.RetryInfo asks the caller to wait before trying
    again; None when it carries none (or the details cannot be read)."""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except Exception:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                # Read as numbers: ToTimedelta overflows on int64 seconds.
                seconds: float = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
                return max(0.0, seconds)
    return None


def channel_options() -> list[tuple[str, int]]:
    """The options of every channel of the suite: message size limits and reconnect backoff."""
    first, most = RECONNECT_BACKOFF_MS
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", first),
        ("grpc.min_reconnect_backoff_ms", first),
        ("grpc.max_reconnect_backoff_ms", most),
    ]


TOKEN_ENV = "HELICASE_TOKEN"
"""The environment variable a client's bearer token is read from when none is given."""


def _with_token(details: grpc.aio.ClientCallDetails, header: tuple[str, str]) -> Any:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata.add(*header)
    return details._replace(metadata=metadata)


class _Bearer:
    """Adds `authorization: Bearer <token>` to a call; the token stays out of the repr."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"


class _UnaryBearer(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_token(details, self._header), request)


class _StreamBearer(_Bearer, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_token(details, self._header), request)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors adding `authorization: Bearer <token>` to every unary and
    server-streaming call of a channel. (A plaintext channel cannot carry gRPC call credentials,
    so the header is added here; grpc takes one interceptor object per kind of call.)"""
    return [_UnaryBearer(token), _StreamBearer(token)]


def channel(addr: str, token: str | None = None) -> grpc.aio.Channel:
    """A client channel with the suite's message size limits and reconnect backoff, whose calls
    carry `authorization: Bearer <token>`: `token`, else $HELICASE_TOKEN; "" sends none."""
    bearer = os.environ.get(TOKEN_ENV, "") if token is None else token
    return grpc.aio.insecure_channel(
        addr,
        options=channel_options(),
        interceptors=bearer_interceptors(bearer) if bearer else None,
    )

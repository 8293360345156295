"""What every client and server of Helicase's gRPC contracts agrees on beyond the messages: the
message size limit, the channel (limits and reconnect backoff) and the states a workflow never
leaves. Hand-written, beside the generated helicase.v1, so that the public client
(helicase.client) and the services (through helicase.common) share one definition without
either importing the other."""

from __future__ import annotations

import grpc

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


def channel(addr: str) -> grpc.aio.Channel:
    """A client channel with the suite's message size limits and reconnect backoff."""
    return grpc.aio.insecure_channel(addr, options=channel_options())

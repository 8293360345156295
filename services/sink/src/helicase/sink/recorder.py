"""Storing a batch through the api: transient errors are retried forever, and a batch the api
can not take (invalid, too large for one message, or failing the same way again and again) is
split until the events at fault are isolated, so one bad event never stalls the pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

from helicase.common.status import field_violations
from helicase.internal.v1 import event_pb2, event_pb2_grpc
from helicase.sink.batching import blamed_indices, by_bytes, framed_size, halves

log = logging.getLogger(__name__)

SUSPECT_CODES = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
"""Answers that mean the api failed on these events (its database being away is UNAVAILABLE):
after SUSPECT_ATTEMPTS of them the batch is split like a rejected one."""
SUSPECT_ATTEMPTS = 3


class Rejected(Exception):
    """The api can never store these events as they are; `fields` name the offenders (from an
    INVALID_ARGUMENT's field violations) when known."""

    def __init__(self, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


def too_large(err: grpc.aio.AioRpcError) -> bool:
    """A call refused for its size, by this side ("Sent message larger than max") or the api's
    ("Received message larger than max")."""
    return err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (
        err.details() or ""
    )


RecordFn = Callable[[list[event_pb2.Event]], Awaitable[None]]


async def store_isolating_rejects(
    events: list[event_pb2.Event], record: RecordFn, max_bytes: int = 2**62
) -> dict[int, str]:
    """Stores every event the api accepts, in calls of at most `max_bytes` of events; returns
    {index: reason} of those it can never take.

    Events a rejection names (events[i]...) are tried alone; otherwise the batch is halved.
    """
    rejected: dict[int, str] = {}

    async def attempt(indices: list[int]) -> None:
        if not indices:
            return
        try:
            await record([events[i] for i in indices])
            return
        except Rejected as exc:
            if len(indices) == 1:
                rejected[indices[0]] = str(exc)
                return
            blamed = sorted(indices[i] for i in blamed_indices(exc.fields, len(indices)))
        if blamed:
            for index in blamed:
                await attempt([index])
            await attempt([i for i in indices if i not in set(blamed)])
        else:
            left, right = halves(indices)
            await attempt(left)
            await attempt(right)

    for run in by_bytes((framed_size(e) for e in events), max_bytes):
        await attempt(run)
    return rejected


class ApiRecorder:
    """EventService.RecordEvents with retry and backoff on transient errors; raises Rejected
    for what retrying cannot fix."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: timedelta) -> None:
        self._stub = event_pb2_grpc.EventServiceStub(channel)
        self._timeout = timeout.total_seconds()

    async def __call__(self, events: list[event_pb2.Event]) -> None:
        backoff = 0.1
        suspect = 0
        while True:
            try:
                await self._stub.RecordEvents(
                    event_pb2.RecordEventsRequest(events=events), timeout=self._timeout
                )
                return
            except grpc.aio.AioRpcError as err:
                detail = err.details() or err.code().name
                if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    fields = [v.field for v in field_violations(err)]
                    raise Rejected(f"INVALID_ARGUMENT: {detail}", fields) from err
                if too_large(err):
                    raise Rejected(f"too large for RecordEvents: {detail}") from err
                suspect = suspect + 1 if err.code() in SUSPECT_CODES else 0
                if suspect >= SUSPECT_ATTEMPTS:
                    raise Rejected(f"{err.code().name} {suspect} times: {detail}") from err
                log.warning(
                    "RecordEvents failed; retrying",
                    extra={
                        "code": err.code().name,
                        "detail": detail,
                        "events": len(events),
                        "retry_in_s": backoff,
                    },
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

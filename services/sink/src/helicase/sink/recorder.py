"""Storing a batch through the api: transient errors are retried forever, and a batch the api
rejects as invalid is split until the bad events are isolated, so one bad event never stalls
the pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

from helicase.common.status import field_violations
from helicase.internal.v1 import event_pb2, event_pb2_grpc
from helicase.sink.batching import blamed_indices, halves

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The api refused the events as invalid (INVALID_ARGUMENT); `fields` name the offenders."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


RecordFn = Callable[[list[event_pb2.Event]], Awaitable[None]]


async def store_isolating_rejects(
    events: list[event_pb2.Event], record: RecordFn
) -> dict[int, str]:
    """Stores every event the api accepts; returns {index: reason} of those it rejects.

    Events the rejection names (events[i]...) are tried alone; otherwise the batch is halved.
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

    await attempt(list(range(len(events))))
    return rejected


class ApiRecorder:
    """EventService.RecordEvents with retry and backoff on every error but INVALID_ARGUMENT."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: timedelta) -> None:
        self._stub = event_pb2_grpc.EventServiceStub(channel)
        self._timeout = timeout.total_seconds()

    async def __call__(self, events: list[event_pb2.Event]) -> None:
        backoff = 0.1
        while True:
            try:
                await self._stub.RecordEvents(
                    event_pb2.RecordEventsRequest(events=events), timeout=self._timeout
                )
                return
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    fields = [v.field for v in field_violations(err)]
                    raise Rejected(err.details() or "invalid argument", fields) from err
                log.warning(
                    "RecordEvents failed; retrying",
                    extra={
                        "code": err.code().name,
                        "detail": err.details(),
                        "events": len(events),
                        "retry_in_s": backoff,
                    },
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

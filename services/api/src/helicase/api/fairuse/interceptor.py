"""Fair use at the edge: each tenant's request rate (a token bucket, each call taking its
method's cost in units: helicase.api.fairuse.cost) and its open
WatchWorkflow streams, counted per api replica after authentication (registered inside the auth
interceptor, so the principal is known). Health, reflection and a platform admin's calls are not
counted. Excess raises ResourceExhausted (RESOURCE_EXHAUSTED with a google.rpc.RetryInfo)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import grpc

from helicase.api.auth import policy
from helicase.api.auth import principal as principals
from helicase.api.errors import Context
from helicase.api.fairuse.bucket import StreamCounts, TenantBuckets
from helicase.api.fairuse.cost import cost_of
from helicase.api.fairuse.limits import LimitsCache
from helicase.common.errors import ResourceExhausted

REQUEST_BYTES: ContextVar[int] = ContextVar("request_bytes", default=0)
"""The size of the call's request as it came over the wire (set as gRPC decodes it, in the
call's own task, before any interceptor's handler runs)."""

STREAM_RETRY = timedelta(seconds=1)  # a stream's end is not foreseeable: ask again soon
REFUSAL_HOLD = 1.0
"""Seconds at most a call over its tenant's rate is held before it is refused (the RetryInfo
then says the rest of the wait). Held, a caller that ignores RetryInfo and calls again at once
makes one call per second per concurrent call, not as many as the api can refuse: a refusal
answered at once still costs authentication and an answer on the api's event loop (measured:
such a tenant's 40 callers made 200 refusals a second and slowed another tenant 4.4x). A held
call costs a suspended coroutine, no CPU."""


class FairUseInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        limits: LimitsCache,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        hold: float = REFUSAL_HOLD,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._hold = hold
        self._buckets = TenantBuckets()
        self.streams = StreamCounts()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or policy.is_open(details.method):
            return handler
        method = details.method
        sized = handler._replace(request_deserializer=_sized(handler.request_deserializer))
        if handler.unary_unary is not None:
            return sized._replace(unary_unary=self._unary(handler.unary_unary, method))
        if handler.unary_stream is not None:
            return sized._replace(unary_stream=self._stream(handler.unary_stream, method))
        return handler

    async def _tenant(self, cost: int) -> str | None:
        """The caller's tenant after `cost` tokens were taken from its bucket; None when the
        caller is not counted (a platform admin). ResourceExhausted when its bucket holds
        fewer, after holding the call for the wait (up to `hold` seconds)."""
        caller = principals.current()
        if caller.platform_admin or caller.component:
            return None
        limits = await self._limits.of(caller.tenant)
        if not limits.requests_per_second:
            return caller.tenant
        wait = self._buckets.take(
            caller.tenant,
            rate=limits.requests_per_second,
            burst=limits.request_burst,
            now=self._clock(),
            cost=cost,
        )
        if wait:
            held = min(wait, self._hold)
            await self._sleep(held)
            raise ResourceExhausted(
                f"tenant {caller.tenant!r} is over its request rate of"
                f" {limits.requests_per_second} units/s (burst {limits.request_burst};"
                f" this call costs {cost}); held {held:.3f}s, retry in {wait - held:.3f}s",
                timedelta(seconds=wait - held),
            )
        return caller.tenant

    def _unary(self, inner: Callable[..., Awaitable[Any]], method: str) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            await self._tenant(cost_of(method, REQUEST_BYTES.get()))
            return await inner(request, context)

        return unary

    def _stream(self, inner: Callable[..., AsyncIterator[Any]], method: str) -> Any:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            tenant = await self._tenant(cost_of(method, REQUEST_BYTES.get()))
            if tenant is None:
                async for item in inner(request, context):
                    yield item
                return
            limit = (await self._limits.of(tenant)).max_watch_streams
            if not self.streams.open(tenant, limit):
                raise ResourceExhausted(
                    f"tenant {tenant!r} has {limit} open streams, its limit"
                    f" (max_watch_streams); close one or retry later",
                    STREAM_RETRY,
                )
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                self.streams.close(tenant)

        return stream


def _sized(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    """`deserialize`, noting the size of what it decodes in REQUEST_BYTES."""

    def decode(data: bytes) -> Any:
        REQUEST_BYTES.set(len(data))
        return data if deserialize is None else deserialize(data)

    return decode

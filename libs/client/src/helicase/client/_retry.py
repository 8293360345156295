"""Retries of calls that failed with UNAVAILABLE (the api restarting, a connection reset), with
capped exponential backoff and jitter, and of calls refused with RESOURCE_EXHAUSTED and a
google.rpc.RetryInfo (the tenant's request rate or quota), after the time the api advised.
Pure policy plus one small async helper."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc

from helicase.wire import retry_delay

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a call is tried again.

    UNAVAILABLE is retried with backoff: the request did not reach a handler, or the api went
    away, and every call the client makes is safe to repeat (CreateWorkflow is idempotent on
    request_id, cancelling twice succeeds, the rest read). RESOURCE_EXHAUSTED carrying a
    RetryInfo (the tenant is over its request rate, or its queued-task quota) is retried after
    the advised delay, for at most `max_throttled` seconds of such waits in all; without a
    RetryInfo (a message over the size limit) it is not. DEADLINE_EXCEEDED is never retried:
    the deadline is the caller's overall budget."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float = 2.0
    jitter: float = 0.2  # each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
    max_throttled: float = 60.0  # seconds of advised waits after RESOURCE_EXHAUSTED (0: none)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 and the multiplier >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_throttled < 0:
            raise ValueError("max_throttled must be >= 0")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before attempts 2..max_attempts."""
        draw = (rng or random).uniform
        delay = self.initial_backoff
        for _ in range(self.max_attempts - 1):
            yield min(delay, self.max_backoff) * draw(1 - self.jitter, 1 + self.jitter)
            delay *= self.multiplier


NO_RETRY = RetryPolicy(max_attempts=1, max_throttled=0.0)


def is_retryable(err: BaseException) -> bool:
    return isinstance(err, grpc.aio.AioRpcError) and err.code() in RETRYABLE


class Throttle:
    """The advised waits of one call (or one watch) against its policy's max_throttled."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._left = policy.max_throttled

    def wait(self, err: BaseException) -> float | None:
        """The seconds to wait before trying again after `err` (counted against the budget),
        or None when `err` is no throttling or the budget cannot cover the advised wait."""
        if not isinstance(err, grpc.aio.AioRpcError):
            return None
        if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            return None
        advised = retry_delay(err)
        if advised is None or advised > self._left:
            return None
        self._left -= advised
        return advised


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Runs `call` until it succeeds, fails with an error not retried, or the policy's attempts
    (UNAVAILABLE) or throttled seconds (RESOURCE_EXHAUSTED) are spent (the last error is
    raised)."""
    delays = policy.delays()
    throttle = Throttle(policy)
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            delay = next(delays, None) if is_retryable(err) else throttle.wait(err)
            if delay is None:
                raise
            await sleep(delay)

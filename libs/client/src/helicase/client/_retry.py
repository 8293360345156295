"""Retries of calls that failed with UNAVAILABLE (the api restarting, a connection reset), with
capped exponential backoff and jitter. Pure policy plus one small async helper."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a call is tried again after UNAVAILABLE.

    Only UNAVAILABLE is retried: the request did not reach a handler, or the api went away, and
    every call the client makes is safe to repeat (CreateWorkflow is idempotent on request_id,
    cancelling twice succeeds, the rest read). DEADLINE_EXCEEDED is never retried: the deadline
    is the caller's overall budget."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float = 2.0
    jitter: float = 0.2  # each delay is scaled by a random factor in [1 - jitter, 1 + jitter]

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 and the multiplier >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before attempts 2..max_attempts."""
        draw = (rng or random).uniform
        delay = self.initial_backoff
        for _ in range(self.max_attempts - 1):
            yield min(delay, self.max_backoff) * draw(1 - self.jitter, 1 + self.jitter)
            delay *= self.multiplier


NO_RETRY = RetryPolicy(max_attempts=1)


def is_retryable(err: BaseException) -> bool:
    return isinstance(err, grpc.aio.AioRpcError) and err.code() in RETRYABLE


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Runs `call` until it succeeds, fails with anything but UNAVAILABLE, or the policy's
    attempts are spent (the last error is raised)."""
    delays = policy.delays()
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            if not is_retryable(err):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            await sleep(delay)

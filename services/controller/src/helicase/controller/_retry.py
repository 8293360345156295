"""Retry arithmetic: a task's effective retry policy and the backoff before its next attempt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from helicase.common.limits import seconds_of
from helicase.v1 import workflow_pb2

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MULTIPLIER = 2.0
DEFAULT_MAX_BACKOFF = 60.0
JITTER = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF  # seconds
    multiplier: float = DEFAULT_MULTIPLIER
    max_backoff: float = DEFAULT_MAX_BACKOFF  # seconds

    @classmethod
    def of(cls, task: workflow_pb2.Task) -> RetrySettings:
        """The task's policy with the documented defaults for unset (zero) fields."""
        retry = task.retry
        initial = seconds_of(retry.initial_backoff)
        ceiling = seconds_of(retry.max_backoff)
        return cls(
            max_attempts=retry.max_attempts if retry.max_attempts > 0 else DEFAULT_MAX_ATTEMPTS,
            initial_backoff=initial if initial > 0 else DEFAULT_INITIAL_BACKOFF,
            multiplier=retry.multiplier if retry.multiplier > 0 else DEFAULT_MULTIPLIER,
            max_backoff=ceiling if ceiling > 0 else DEFAULT_MAX_BACKOFF,
        )


def backoff(settings: RetrySettings, failed_attempt: int, jitter_seed: str) -> float:
    """Seconds before the attempt after `failed_attempt` (from 1):
    min(max_backoff, initial * multiplier^(failed_attempt-1)), then ±20% jitter. The jitter is
    derived from `jitter_seed` (e.g. the failed ref), so a replay makes the same decision."""
    exponent = max(0, failed_attempt - 1)
    try:
        base = min(settings.max_backoff, settings.initial_backoff * settings.multiplier**exponent)
    except OverflowError:
        base = settings.max_backoff
    digest = hashlib.blake2b(jitter_seed.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64  # [0, 1)
    return base * (1 - JITTER + 2 * JITTER * fraction)

"""Token buckets, one per tenant (pure: the caller passes the time).

A bucket holds at most `burst` tokens and gains `rate` tokens a second; each request takes its
cost (helicase.api.fairuse.cost: a read 1, a workflow start many). A request finding too few
tokens is refused with a time to come back (its RetryInfo). The refused callers are told times
one request apart, in the order they were refused: told the same time (when the tokens come),
callers that honour it would all come back at once, one would be served and the others refused
again, so a tenant's many callers would make many times its rate in refusals, each one
authenticated and answered at everyone's expense.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SPREAD = 5.0  # seconds: refused callers are spread over at most this (or the next token)


@dataclass
class TokenBucket:
    rate: float  # tokens a second
    burst: float  # the most tokens it holds
    tokens: float
    updated: float  # the time `tokens` was counted at
    advised: float = 0.0  # the latest time a refused caller was told to come back at

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, updated=now)

    def refill(self, now: float) -> None:
        """Counts the tokens earned up to `now`."""
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Takes `cost` tokens (at most the burst, or no request that costs more would ever
        pass): 0.0 when there were as many, else the seconds to wait (nothing taken): until
        they are there for the first caller refused, one request's cost later for each caller
        refused after it, up to MAX_SPREAD."""
        cost = min(cost, self.burst)
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        ready = now + (cost - self.tokens) / self.rate
        latest = max(ready, now + MAX_SPREAD)
        self.advised = min(max(ready, self.advised + cost / self.rate), latest)
        return self.advised - now


class TenantBuckets:
    """A bucket per tenant, created full on its first request and re-shaped (keeping its
    tokens, up to the new burst) when the tenant's rate or burst changes."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def take(
        self, tenant: str, *, rate: float, burst: float, now: float, cost: float = 1.0
    ) -> float:
        """0.0 if the tenant may make a request costing `cost` now, else the seconds until
        it may."""
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = TokenBucket.full(rate, max(burst, 1.0), now)
        elif (bucket.rate, bucket.burst) != (rate, max(burst, 1.0)):
            bucket.refill(now)  # count the tokens earned at the old rate first
            bucket.rate, bucket.burst = rate, max(burst, 1.0)
            bucket.tokens = min(bucket.tokens, bucket.burst)
            bucket.advised = 0.0  # times told at the old rate say nothing of the new one
        return bucket.take(now, cost)


class StreamCounts:
    """Open server streams per tenant."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def open(self, tenant: str, limit: int) -> bool:
        """Counts a new stream of the tenant; False (not counted) when it has `limit` open."""
        count = self._open.get(tenant, 0)
        if limit and count >= limit:
            return False
        self._open[tenant] = count + 1
        return True

    def close(self, tenant: str) -> None:
        count = self._open.get(tenant, 0) - 1
        if count > 0:
            self._open[tenant] = count
        else:
            self._open.pop(tenant, None)

    def count(self, tenant: str) -> int:
        return self._open.get(tenant, 0)

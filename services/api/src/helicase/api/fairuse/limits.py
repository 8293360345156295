"""Each tenant's fair-use limits: the defaults (settings) with the tenant's own overrides, read
from PostgreSQL and kept a few seconds (HELICASE_TENANT_LIMITS_CACHE) per api replica."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace

from helicase.api.config import ApiConfig
from helicase.v1 import admin_pb2

LIMIT_FIELDS = (
    "requests_per_second",
    "request_burst",
    "max_watch_streams",
    "max_running_workflows",
    "max_queued_tasks",
    "max_queued_bytes",
)


@dataclass(frozen=True, kw_only=True)
class TenantLimits:
    """TenantLimits of one tenant. As overrides, 0 means "the default"; in force, "no limit"
    (max_running_workflows 0: the scheduler's own default)."""

    requests_per_second: int = 0
    request_burst: int = 0
    max_watch_streams: int = 0
    max_running_workflows: int = 0
    max_queued_tasks: int = 0
    max_queued_bytes: int = 0

    def over(self, defaults: TenantLimits) -> TenantLimits:
        """These overrides over `defaults`: each field set here wins."""
        chosen = {f.name: getattr(self, f.name) or getattr(defaults, f.name) for f in fields(self)}
        return TenantLimits(**chosen)

    def message(self, tenant_id: str) -> admin_pb2.TenantLimits:
        return admin_pb2.TenantLimits(
            tenant_id=tenant_id, **{name: getattr(self, name) for name in LIMIT_FIELDS}
        )

    @classmethod
    def of(cls, message: admin_pb2.TenantLimits) -> TenantLimits:
        return cls(**{name: getattr(message, name) for name in LIMIT_FIELDS})

    def updated(self, message: admin_pb2.TenantLimits, paths: list[str]) -> TenantLimits:
        """These limits with the fields `paths` names taken from `message` (all when empty)."""
        return replace(self, **{name: getattr(message, name) for name in paths or LIMIT_FIELDS})


def default_limits(config: ApiConfig) -> TenantLimits:
    """The limits of a tenant that has none set (the HELICASE_TENANT_* settings)."""
    return TenantLimits(
        requests_per_second=config.tenant_rate,
        request_burst=config.tenant_burst,
        max_watch_streams=config.tenant_max_streams,
        max_queued_tasks=config.tenant_max_queued_tasks,
        max_queued_bytes=config.tenant_max_queued_bytes,
    )


Loader = Callable[[str], Awaitable[TenantLimits]]


class LimitsCache:
    """The limits in force for each tenant: `loader` (the tenant's overrides) over `defaults`,
    read again once `ttl` seconds have passed. Concurrent misses of one tenant share a read."""

    def __init__(
        self,
        defaults: TenantLimits,
        loader: Loader,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.defaults = defaults
        self._loader = loader
        self._ttl = ttl
        self._clock = clock
        self._cached: dict[str, tuple[float, TenantLimits]] = {}
        self._reading: dict[str, asyncio.Future[TenantLimits]] = {}

    async def of(self, tenant: str) -> TenantLimits:
        hit = self._cached.get(tenant)
        if hit is not None and self._clock() < hit[0]:
            return hit[1]
        pending = self._reading.get(tenant)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TenantLimits] = asyncio.get_running_loop().create_future()
        self._reading[tenant] = future
        try:
            limits = (await self._loader(tenant)).over(self.defaults)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._reading[tenant]
        self._cached[tenant] = (self._clock() + self._ttl, limits)
        future.set_result(limits)
        return limits

    def forget(self, tenant: str) -> None:
        """Reads the tenant's limits again on next use (set on this replica just now)."""
        self._cached.pop(tenant, None)

"""All SQL of fair use: a tenant's limit overrides, and the tasks of its unfinished workflows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api.fairuse.limits import LIMIT_FIELDS, TenantLimits
from helicase.api.tables import tenant_limits, workflows
from helicase.common.errors import ResourceExhausted
from helicase.common.states import WS

UNFINISHED = (WS.WORKFLOW_STATE_PENDING, WS.WORKFLOW_STATE_RUNNING, WS.WORKFLOW_STATE_CANCELING)
QUOTA_RETRY = timedelta(seconds=5)  # queued tasks drain as workflows finish: ask again then


class LimitsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def overrides(self, tenant: str) -> TenantLimits:
        """The limits set for `tenant` (all 0, i.e. the defaults, when none are)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(tenant_limits).where(tenant_limits.c.tenant_id == tenant))
            ).first()
        if row is None:
            return TenantLimits()
        return TenantLimits(**{name: row._mapping[name] for name in LIMIT_FIELDS})

    async def set_overrides(self, tenant: str, limits: TenantLimits) -> None:
        values = {name: getattr(limits, name) for name in LIMIT_FIELDS}
        values["update_time"] = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(tenant_limits)
                .values(tenant_id=tenant, **values)
                .on_conflict_do_update(index_elements=["tenant_id"], set_=values)
            )


async def queued(conn: AsyncConnection, tenant: str) -> tuple[int, int]:
    """The tasks of the tenant's unfinished workflows, and the bytes of their definitions (its
    queued-task and queued-byte quotas count these). A definition's length is read from its
    header, not the value, however large."""
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(workflows.c.task_count), 0),
                func.coalesce(func.sum(func.octet_length(workflows.c.definition)), 0),
            ).where(workflows.c.tenant == tenant, workflows.c.state.in_(UNFINISHED))
        )
    ).one()
    return int(row[0]), int(row[1])


async def check_queued(conn: AsyncConnection, tenant: str, limits: TenantLimits) -> None:
    """ResourceExhausted when the tenant's unfinished workflows (the one being created
    included, in `conn`'s transaction) hold more tasks than its max_queued_tasks, or more bytes
    of definitions than its max_queued_bytes (0: no limit)."""
    if not (limits.max_queued_tasks or limits.max_queued_bytes):
        return
    tasks, size = await queued(conn, tenant)
    for count, limit, name, what in (
        (tasks, limits.max_queued_tasks, "max_queued_tasks", "queued tasks"),
        (size, limits.max_queued_bytes, "max_queued_bytes", "bytes of queued workflows"),
    ):
        if limit and count > limit:
            raise ResourceExhausted(
                f"tenant {tenant!r} would have {count} {what}, over its limit of {limit}"
                f" ({name}); retry when some of its workflows have finished",
                QUOTA_RETRY,
            )

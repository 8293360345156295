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


async def queued_tasks(conn: AsyncConnection, tenant: str) -> int:
    """The tasks of the tenant's unfinished workflows (its queued-task quota counts these)."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(workflows.c.task_count), 0)).where(
            workflows.c.tenant == tenant, workflows.c.state.in_(UNFINISHED)
        )
    )
    return int(total or 0)


async def check_queued_tasks(conn: AsyncConnection, tenant: str, limit: int) -> None:
    """ResourceExhausted when the tenant's unfinished workflows (the one being created
    included, in `conn`'s transaction) hold more than `limit` tasks (0: no limit)."""
    if not limit:
        return
    queued = await queued_tasks(conn, tenant)
    if queued > limit:
        raise ResourceExhausted(
            f"tenant {tenant!r} would have {queued} queued tasks, over its limit of {limit}"
            " (max_queued_tasks); retry when some of its workflows have finished",
            QUOTA_RETRY,
        )

"""SQL of schedules (recurring workflows), in the caller's tenant (helicase.api.tenancy); the
workflows they create live in `workflows`, in the schedule's tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.tables import schedules, workflows
from helicase.common import cron
from helicase.common.errors import NotFound
from helicase.v1 import schedule_pb2, workflow_pb2

RECENT_RUNS = 10


@dataclass(frozen=True)
class ScheduleRow:
    id: uuid.UUID
    tenant: str
    display_name: str
    cron: str
    time_zone: str
    workflow: bytes
    paused: bool
    create_time: datetime
    active_since: datetime

    def message(self, now: datetime | None = None) -> schedule_pb2.Schedule:
        out = schedule_pb2.Schedule(
            id=str(self.id),
            tenant=self.tenant,
            display_name=self.display_name,
            cron=self.cron,
            time_zone=self.time_zone,
            workflow=workflow_pb2.Workflow.FromString(self.workflow),
            paused=self.paused,
        )
        out.create_time.FromDatetime(self.create_time)
        out.active_since.FromDatetime(self.active_since)
        after = max(now or datetime.now(UTC), self.active_since)
        try:
            next_fire = cron.next_after(self.cron, self.time_zone, after)
        except cron.CannotFire as exc:
            # Stored by an older version, or its time zone left tzdata: listed, never fired.
            out.problem = str(exc)
            return out
        if not self.paused:
            out.next_fire_time.FromDatetime(next_fire)
        return out


_COLUMNS = (
    schedules.c.id,
    schedules.c.tenant,
    schedules.c.display_name,
    schedules.c.cron,
    schedules.c.time_zone,
    schedules.c.workflow,
    schedules.c.paused,
    schedules.c.create_time,
    schedules.c.active_since,
)


class ScheduleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, request_id: str, schedule: schedule_pb2.Schedule) -> ScheduleRow:
        """Stores a validated schedule; a known request_id returns the first one."""
        tenant = tenancy.owner()
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert(schedules)
                .values(
                    id=uuid.uuid4(),
                    tenant=tenant,
                    request_id=request_id or None,
                    display_name=schedule.display_name,
                    cron=schedule.cron.strip(),
                    time_zone=schedule.time_zone,
                    workflow=schedule.workflow.SerializeToString(),
                    paused=schedule.paused,
                    create_time=now,
                    active_since=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant", "request_id"])
                .returning(*_COLUMNS)
            )
            row = inserted.first()
            if row is None:
                known = schedules.c.tenant == tenant, schedules.c.request_id == request_id
                row = (await conn.execute(select(*_COLUMNS).where(*known))).first()
        assert row is not None
        return ScheduleRow(*row)

    async def get(self, schedule_id: uuid.UUID) -> ScheduleRow:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_COLUMNS).where(
                        schedules.c.id == schedule_id, *tenancy.where(schedules)
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return ScheduleRow(*row)

    async def recent_runs(self, schedule_id: uuid.UUID) -> list[schedule_pb2.ScheduledRun]:
        """The workflows the schedule created, newest first."""
        query = (
            select(workflows.c.id, workflows.c.labels, workflows.c.state)
            .where(
                workflows.c.labels.contains({cron.SCHEDULE_LABEL: str(schedule_id)}),
                *tenancy.where(workflows),
            )
            .order_by(workflows.c.create_time.desc(), workflows.c.id.desc())
            .limit(RECENT_RUNS)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for row in rows:
            run = schedule_pb2.ScheduledRun(workflow_id=str(row.id), state=row.state)
            fired = row.labels.get(cron.FIRE_TIME_LABEL, "")
            if fired:
                run.fire_time.FromJsonString(fired)
            out.append(run)
        return out

    async def list(self, *, page: paging.Page) -> tuple[list[ScheduleRow], str]:
        """A page of schedules, oldest first, and the next page's token."""
        async with self.engine.connect() as conn:
            key = (schedules.c.create_time, schedules.c.id)
            rows, token = await paging.list_page(
                conn, select(*_COLUMNS), schedules, page, key=key, descending=False
            )
        found = [ScheduleRow(**r._mapping) for r in rows]
        sizes = (len(r.workflow) + len(r.cron) + len(r.display_name) + 256 for r in found)
        return paging.fit_page(found, sizes, rows, token, schedules, key=key)

    async def set_paused(self, schedule_id: uuid.UUID, paused: bool) -> ScheduleRow:
        """Pauses or resumes; a resume moves active_since to now (missed times are not made up)."""
        values: dict[str, object] = {"paused": paused}
        if not paused:
            values["active_since"] = case(
                (schedules.c.paused, func.now()), else_=schedules.c.active_since
            )
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(schedules)
                    .where(schedules.c.id == schedule_id, *tenancy.where(schedules))
                    .values(**values)
                    .returning(*_COLUMNS)
                )
            ).first()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return ScheduleRow(*row)

    async def delete(self, schedule_id: uuid.UUID) -> None:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                delete(schedules).where(schedules.c.id == schedule_id, *tenancy.where(schedules))
            )
        if done.rowcount == 0:
            raise NotFound(f"schedule {schedule_id} not found")

"""SQL of the purge. Each batch is one short transaction: lock a few finished workflows (SKIP
LOCKED, by the partial index workflows_finished), read what the archive keeps, delete their
rows by workflow id, commit. Nothing waits on a lock for more than LOCK_TIMEOUT, so inserts
into the hot tables (workflows, tasks, events, outbox) go on meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api.retention.archive import ArchivedWorkflow, event_json, row_json, workflow_json
from helicase.api.tables import events, experiments, outbox, task_attempts, tasks, workflows
from helicase.wire import WORKFLOW_TERMINAL

LOCK_TIMEOUT = "2s"
PURGE_LOCK_KEY = 0x48454C49_43415345 & 0x7FFF_FFFF_FFFF_FFFF  # "HELICASE": one purger at a time
SAMPLE = 20


@dataclass
class Counts:
    """What a purge removed (or, dry, would remove)."""

    workflows: int = 0
    tasks: int = 0
    events: int = 0
    outbox_rows: int = 0
    sample: list[str] | None = None

    def add(self, other: Counts) -> None:
        self.workflows += other.workflows
        self.tasks += other.tasks
        self.events += other.events
        self.outbox_rows += other.outbox_rows
        self.sample = ((self.sample or []) + (other.sample or []))[:SAMPLE]


def _finished(cutoff: datetime, tenant: str | None) -> list[ColumnElement[bool]]:
    out = [
        workflows.c.end_time.is_not(None),
        workflows.c.end_time < cutoff,
        workflows.c.state.in_(sorted(WORKFLOW_TERMINAL)),
    ]
    if tenant is not None:
        out.append(workflows.c.tenant == tenant)
    return out


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


class RetentionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def count(self, cutoff: datetime, tenant: str | None, *, outbox_too: bool) -> Counts:
        """What a purge at `cutoff` would remove (reads only)."""
        chosen = select(workflows.c.id).where(*_finished(cutoff, tenant)).subquery()
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.sum(workflows.c.task_count), 0)).where(
                        *_finished(cutoff, tenant)
                    )
                )
            ).one()
            n_events = await conn.scalar(
                select(func.count()).select_from(events).where(events.c.workflow_id.in_(
                    select(chosen.c.id)
                ))
            )  # fmt: skip
            sample = await conn.scalars(
                select(workflows.c.id)
                .where(*_finished(cutoff, tenant))
                .order_by(workflows.c.end_time, workflows.c.id)
                .limit(SAMPLE)
            )
            n_outbox = (
                await conn.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at < cutoff)
                )
                if outbox_too
                else 0
            )
        return Counts(
            workflows=int(found[0]), tasks=int(found[1]), events=int(n_events or 0),
            outbox_rows=int(n_outbox or 0), sample=[str(i) for i in sample],
        )  # fmt: skip

    async def purge_batch(
        self,
        cutoff: datetime,
        tenant: str | None,
        limit: int,
        export: Callable[[Sequence[ArchivedWorkflow]], Awaitable[None]],
    ) -> Counts:
        """Archives with `export` (which must have made them durable when it returns) and then
        deletes at most `limit` finished workflows, in one short transaction; an export that
        raises rolls it back. Returns what went (no workflows: nothing is left to purge)."""
        async with self.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            headers = _rows(
                await conn.execute(
                    select(workflows)
                    .where(*_finished(cutoff, tenant))
                    .order_by(workflows.c.end_time, workflows.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not headers:
                return Counts(sample=[])
            ids = [h["id"] for h in headers]
            documents = await _documents(conn, headers)
            await export(documents)
            n_tasks = 0
            n_events = 0
            for table in (events, task_attempts, tasks, experiments):
                done = await conn.execute(delete(table).where(table.c.workflow_id.in_(ids)))
                if table is events:
                    n_events = done.rowcount
                elif table is tasks:
                    n_tasks = done.rowcount
            await conn.execute(delete(workflows).where(workflows.c.id.in_(ids)))
        return Counts(
            workflows=len(ids), tasks=n_tasks, events=n_events, sample=[str(i) for i in ids]
        )

    async def purge_outbox_batch(self, cutoff: datetime, limit: int) -> int:
        """Deletes at most `limit` outbox rows relayed before `cutoff`, oldest first."""
        async with self.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            chosen = (
                select(outbox.c.id)
                .where(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff)
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            done = await conn.execute(
                delete(outbox).where(outbox.c.id.in_(chosen.scalar_subquery()))
            )
        return int(done.rowcount)


async def _related(conn: AsyncConnection, table: Table, ids: list[Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {i: [] for i in ids}
    for row in _rows(await conn.execute(select(table).where(table.c.workflow_id.in_(ids)))):
        out[row["workflow_id"]].append(row)
    return out


async def _documents(
    conn: AsyncConnection, headers: list[dict[str, Any]]
) -> list[ArchivedWorkflow]:
    ids = [h["id"] for h in headers]
    by_table = {
        t.name: await _related(conn, t, ids) for t in (tasks, task_attempts, events, experiments)
    }
    out = []
    for header in headers:
        key = header["id"]
        document = {
            "workflow": workflow_json(header),
            "tasks": [
                row_json(r) for r in sorted(by_table["tasks"][key], key=lambda r: r["ordinal"])
            ],
            "attempts": [row_json(r) for r in by_table["task_attempts"][key]],
            "events": [
                event_json(r) for r in sorted(by_table["events"][key], key=lambda r: r["time"])
            ],
            "experiment": [row_json(r) for r in by_table["experiments"][key]],
        }
        out.append(ArchivedWorkflow(header["tenant"], header["end_time"], document))
    return out

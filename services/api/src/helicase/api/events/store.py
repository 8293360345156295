"""RecordEvents' SQL: each event stored once and folded into the read model (the projections of
helicase.api.events.projection), with the statements of helicase.api.events.sql."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC
from typing import Any

from google.protobuf import json_format
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api.events import projection, sql
from helicase.api.tables import workflows
from helicase.internal.v1 import event_pb2


def event_row(event: event_pb2.Event) -> dict[str, Any]:
    """The `events` row of `event`."""
    return {
        "event_id": event.event_id,
        "workflow_id": uuid.UUID(event.workflow_id),
        "time": event.time.ToDatetime(tzinfo=UTC),
        "source": event.source,
        "payload": event.SerializeToString(),
    }


class EventStore:
    """The recorded events and their projections, over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record_events(self, batch: Sequence[event_pb2.Event]) -> tuple[int, set[str]]:
        """Stores each event once and folds the new ones into the projections, atomically.
        Returns (stored, ids of the workflows whose projection changed)."""
        async with self.engine.begin() as conn:
            return await record(conn, batch)

    async def end_to_end(self, workflow_ids: set[str]) -> list[tuple[int, float]]:
        """(terminal state, seconds from create to end) of those of `workflow_ids` that ended."""
        query = select(workflows.c.state, workflows.c.create_time, workflows.c.end_time).where(
            workflows.c.id.in_([uuid.UUID(w) for w in workflow_ids]),
            workflows.c.end_time.is_not(None),
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.state, max(0.0, (r.end_time - r.create_time).total_seconds())) for r in rows]


async def record(conn: AsyncConnection, batch: Sequence[event_pb2.Event]) -> tuple[int, set[str]]:
    """Stores and folds `batch` in `conn`'s transaction; returns (stored, changed workflow ids)."""
    unique = {e.event_id: e for e in batch}
    if not unique:
        return 0, set()
    # Each workflow id's canonical text, parsed once per workflow rather than per event.
    canonical = {w: str(uuid.UUID(w)) for w in {e.workflow_id for e in unique.values()}}
    inserted = await sql.insert_events(conn, list(unique.values()), canonical)
    new = [unique[event_id] for event_id in inserted]
    stored = len(new)
    if not new:
        return 0, set()
    # Lock order: workflows, then tasks, then attempts, each sorted by key (the canonical
    # text sorts as the uuid does).
    known = await sql.lock_workflows(conn, sorted({canonical[e.workflow_id] for e in new}))
    new = [e for e in new if canonical[e.workflow_id] in known]
    await _fold_workflows(conn, known, [e for e in new if e.HasField("workflow_event")], canonical)
    await _fold_tasks(conn, [e for e in new if e.HasField("task_event")], canonical)
    return stored, {e.workflow_id for e in new}


async def _fold_workflows(
    conn: AsyncConnection,
    known: dict[str, Row[Any]],
    batch: list[event_pb2.Event],
    canonical: dict[str, str],
) -> None:
    changed: dict[str, projection.WorkflowRow] = {}
    for event in batch:
        workflow_id = canonical[event.workflow_id]
        row = changed.get(workflow_id)
        if row is None:
            stored = known[workflow_id]
            row = projection.WorkflowRow(
                state=stored.state, message=stored.message,
                start_time=stored.start_time, end_time=stored.end_time,
            )  # fmt: skip
        changed[workflow_id] = projection.fold_workflow(
            row, event.workflow_event.state, event.workflow_event.message,
            event.time.ToDatetime(tzinfo=UTC),
        )  # fmt: skip
    if changed:
        await conn.execute(
            update(workflows).where(workflows.c.id == bindparam("wid")),
            [{"wid": uuid.UUID(k), **asdict(v)} for k, v in changed.items()],
        )


async def _fold_tasks(
    conn: AsyncConnection, batch: list[event_pb2.Event], canonical: dict[str, str]
) -> None:
    if not batch:
        return
    task_keys = sorted({(canonical[e.workflow_id], e.task_event.task_id) for e in batch})
    attempt_keys = sorted(
        {(canonical[e.workflow_id], e.task_event.task_id, e.task_event.attempt) for e in batch
         if e.task_event.attempt > 0}
    )  # fmt: skip
    task_rows = await sql.lock_tasks(conn, task_keys)
    attempt_rows = await sql.lock_attempts(conn, attempt_keys) if attempt_keys else {}
    touched_tasks: set[tuple[str, str]] = set()
    touched_attempts: set[tuple[str, str, int]] = set()
    for event in batch:
        te = event.task_event
        key = (canonical[event.workflow_id], te.task_id)
        if key not in task_rows:
            continue  # an event about a task the workflow does not have
        fact = projection.TaskFact(
            attempt=te.attempt, placement=te.placement, state=te.state,
            participant=te.participant, message=te.message,
            outputs=json_format.MessageToDict(te.outputs) if te.HasField("outputs") else None,
            time=event.time.ToDatetime(tzinfo=UTC),
            start_time=(
                te.start_time.ToDatetime(tzinfo=UTC) if te.HasField("start_time") else None
            ),
        )  # fmt: skip
        task_rows[key] = projection.fold_task(task_rows[key], fact)
        touched_tasks.add(key)
        if te.attempt > 0:
            attempt_key = (*key, te.attempt)
            attempt_rows[attempt_key] = projection.fold_attempt(
                attempt_rows.get(attempt_key, projection.AttemptRow()), fact
            )
            touched_attempts.add(attempt_key)
    if touched_tasks:
        await sql.update_tasks(conn, [(k, task_rows[k]) for k in sorted(touched_tasks)])
    if touched_attempts:
        await sql.upsert_attempts(conn, [(k, attempt_rows[k]) for k in sorted(touched_attempts)])

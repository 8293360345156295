"""All SQL of the api: workflows, the outbox and recorded events with their projections."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NamedTuple

from google.protobuf import json_format
from sqlalchemy import Row, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api import event_sql, projection
from helicase.api.convert import decode_page_token, encode_page_token, workflow_message
from helicase.api.tables import events, outbox, task_attempts, tasks, workflows
from helicase.common import events as ev
from helicase.common import topics, tracing
from helicase.common.errors import FailedPrecondition, NotFound
from helicase.v1 import command_pb2, event_pb2, workflow_pb2

WS = workflow_pb2.WorkflowState
FINISHED = (WS.WORKFLOW_STATE_COMPLETED, WS.WORKFLOW_STATE_FAILED)
STOPPING = (WS.WORKFLOW_STATE_CANCELING, WS.WORKFLOW_STATE_CANCELED)


class OutboxRow(NamedTuple):
    topic: str
    key: str
    payload: bytes
    trace_context: str | None  # W3C traceparent of the request that wrote it


def _now() -> datetime:
    return datetime.now(UTC)


def _command(workflow_id: str, **kind: Any) -> bytes:
    return command_pb2.Command(
        command_id=str(uuid.uuid4()), workflow_id=workflow_id, time=ev.timestamp(), **kind
    ).SerializeToString()


class Store:
    """The api's persistence, over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- workflows ---------------------------------------------------------------------------

    async def create_workflow(
        self,
        request_id: str,
        definition: workflow_pb2.Workflow,
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> tuple[workflow_pb2.Workflow, bool]:
        """Stores a validated workflow, its PENDING event and its launch command atomically.
        Returns (workflow, created); a known request_id returns the first workflow. `also`
        writes more rows in the same transaction (an experiment row), only when created."""
        workflow_id = uuid.UUID(definition.id)
        now = _now()
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert(workflows)
                .values(
                    id=workflow_id,
                    request_id=request_id or None,
                    display_name=definition.display_name,
                    labels=dict(definition.labels),
                    definition=definition.SerializeToString(),
                    task_count=len(definition.tasks),
                    state=WS.WORKFLOW_STATE_PENDING,
                    create_time=now,
                )
                .on_conflict_do_nothing(index_elements=["request_id"])
                .returning(workflows.c.id)
            )
            if inserted.first() is None:
                existing = await conn.scalar(
                    select(workflows.c.id).where(workflows.c.request_id == request_id)
                )
                assert existing is not None
                found = await self._get(conn, existing, full=True)
                assert found is not None
                return found, False
            await conn.execute(
                tasks.insert(),
                [
                    {"workflow_id": workflow_id, "task_id": t.id, "ordinal": i, "type": t.type,
                     "instance_group": t.instance_group, "state": workflow_pb2.TASK_STATE_PENDING}
                    for i, t in enumerate(definition.tasks)
                ],
            )  # fmt: skip
            pending = ev.workflow_event(
                workflow_id=definition.id, state=WS.WORKFLOW_STATE_PENDING, source="api",
                at=ev.timestamp(now),
            )  # fmt: skip
            await conn.execute(insert(events).values(**self._event_row(pending)))
            launch = command_pb2.LaunchCommand(workflow=definition)
            launch.workflow.create_time.FromDatetime(now)
            await conn.execute(
                outbox.insert().values(
                    topic=topics.COMMANDS, key=definition.id,
                    payload=_command(definition.id, launch=launch),
                    trace_context=tracing.inject().get("traceparent"),
                )
            )  # fmt: skip
            if also is not None:
                await also(conn)
            created = await self._get(conn, workflow_id, full=True)
        assert created is not None
        return created, True

    async def get_workflow(self, workflow_id: uuid.UUID, *, full: bool) -> workflow_pb2.Workflow:
        async with self.engine.connect() as conn:
            found = await self._get(conn, workflow_id, full=full)
        if found is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return found

    async def _get(
        self, conn: AsyncConnection, workflow_id: uuid.UUID, *, full: bool
    ) -> workflow_pb2.Workflow | None:
        row = (await conn.execute(select(workflows).where(workflows.c.id == workflow_id))).first()
        if row is None:
            return None
        if not full:
            counts = await self._counts(conn, [workflow_id])
            return workflow_message(row._mapping, tasks=None, counts=counts.get(workflow_id, {}))
        task_rows = (
            await conn.execute(select(tasks).where(tasks.c.workflow_id == workflow_id))
        ).all()
        attempt_query = select(task_attempts).where(task_attempts.c.workflow_id == workflow_id)
        attempt_rows = (await conn.execute(attempt_query)).all()
        return workflow_message(
            row._mapping,
            tasks=[t._mapping for t in task_rows],
            attempts=[a._mapping for a in attempt_rows],
        )

    async def _counts(
        self, conn: AsyncConnection, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[int, int]]:
        rows = await conn.execute(
            select(tasks.c.workflow_id, tasks.c.state, func.count())
            .where(tasks.c.workflow_id.in_(ids))
            .group_by(tasks.c.workflow_id, tasks.c.state)
        )
        out: dict[uuid.UUID, dict[int, int]] = {}
        for workflow_id, state, count in rows:
            out.setdefault(workflow_id, {})[state] = count
        return out

    async def list_workflows(
        self,
        *,
        page_size: int,
        page_token: str,
        labels: dict[str, str],
        states: Sequence[int],
        full: bool,
    ) -> tuple[list[workflow_pb2.Workflow], str]:
        query = select(workflows).order_by(workflows.c.create_time.desc(), workflows.c.id.desc())
        if labels:
            query = query.where(workflows.c.labels.contains(labels))
        if states:
            query = query.where(workflows.c.state.in_(list(states)))
        if page_token:
            when, last_id = decode_page_token(page_token)
            query = query.where(
                or_(
                    workflows.c.create_time < when,
                    and_(workflows.c.create_time == when, workflows.c.id < last_id),
                )
            )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(page_size + 1))).all()
            page = rows[:page_size]
            if full:
                found = [await self._get(conn, r.id, full=True) for r in page]
                result = [w for w in found if w is not None]
            else:
                counts = await self._counts(conn, [r.id for r in page])
                result = [
                    workflow_message(r._mapping, tasks=None, counts=counts.get(r.id, {}))
                    for r in page
                ]
        token = (
            encode_page_token(page[-1].create_time, page[-1].id) if len(rows) > page_size else ""
        )
        return result, token

    async def cancel_workflow(self, workflow_id: uuid.UUID, reason: str) -> workflow_pb2.Workflow:
        """Marks a workflow CANCELING and queues the cancel command, atomically."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(workflows).where(workflows.c.id == workflow_id).with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"workflow {workflow_id} not found")
            if row.state in FINISHED:
                name = WS.Name(row.state).removeprefix("WORKFLOW_STATE_")
                raise FailedPrecondition(f"workflow {workflow_id} is already {name}")
            if row.state not in STOPPING:
                message = f"cancel requested: {reason}" if reason else "cancel requested"
                canceling = ev.workflow_event(
                    workflow_id=str(workflow_id), state=WS.WORKFLOW_STATE_CANCELING,
                    source="api", message=message,
                )  # fmt: skip
                await self._record(conn, [canceling])
                await conn.execute(
                    outbox.insert().values(
                        topic=topics.COMMANDS, key=str(workflow_id),
                        payload=_command(str(workflow_id),
                                         cancel=command_pb2.CancelCommand(reason=reason)),
                        trace_context=tracing.inject().get("traceparent"),
                    )
                )  # fmt: skip
            found = await self._get(conn, workflow_id, full=True)
        assert found is not None
        return found

    async def end_to_end(self, workflow_ids: set[str]) -> list[tuple[int, float]]:
        """(terminal state, seconds from create to end) of those of `workflow_ids` that ended."""
        query = select(workflows.c.state, workflows.c.create_time, workflows.c.end_time).where(
            workflows.c.id.in_([uuid.UUID(w) for w in workflow_ids]),
            workflows.c.end_time.is_not(None),
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.state, max(0.0, (r.end_time - r.create_time).total_seconds())) for r in rows]

    # -- outbox ------------------------------------------------------------------------------

    async def publish_outbox(
        self, publish: Callable[[list[OutboxRow]], Awaitable[None]], limit: int = 500
    ) -> int:
        """Publishes the oldest unpublished outbox rows with `publish`, then marks them, in one
        transaction (rows locked with SKIP LOCKED, so several apis can relay)."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        outbox.c.id,
                        outbox.c.topic,
                        outbox.c.key,
                        outbox.c.payload,
                        outbox.c.trace_context,
                    )
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await publish([OutboxRow(r.topic, r.key, r.payload, r.trace_context) for r in rows])
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=func.now())
            )
        return len(rows)

    # -- events ------------------------------------------------------------------------------

    async def record_events(self, batch: Sequence[event_pb2.Event]) -> tuple[int, set[str]]:
        """Stores each event once and folds the new ones into the projections, atomically.
        Returns (stored, ids of the workflows whose projection changed)."""
        async with self.engine.begin() as conn:
            return await self._record(conn, batch)

    @staticmethod
    def _event_row(event: event_pb2.Event) -> dict[str, Any]:
        return {
            "event_id": event.event_id,
            "workflow_id": uuid.UUID(event.workflow_id),
            "time": event.time.ToDatetime(tzinfo=UTC),
            "source": event.source,
            "payload": event.SerializeToString(),
        }

    async def _record(
        self, conn: AsyncConnection, batch: Sequence[event_pb2.Event]
    ) -> tuple[int, set[str]]:
        unique = {e.event_id: e for e in batch}
        if not unique:
            return 0, set()
        # Each workflow id's canonical text, parsed once per workflow rather than per event.
        canonical = {w: str(uuid.UUID(w)) for w in {e.workflow_id for e in unique.values()}}
        inserted = await event_sql.insert_events(conn, list(unique.values()), canonical)
        new = [unique[event_id] for event_id in inserted]
        stored = len(new)
        if not new:
            return 0, set()
        # Lock order: workflows, then tasks, then attempts, each sorted by key (the canonical
        # text sorts as the uuid does).
        known = await event_sql.lock_workflows(
            conn, sorted({canonical[e.workflow_id] for e in new})
        )
        new = [e for e in new if canonical[e.workflow_id] in known]
        await self._fold_workflows(
            conn, known, [e for e in new if e.HasField("workflow_event")], canonical
        )
        await self._fold_tasks(conn, [e for e in new if e.HasField("task_event")], canonical)
        return stored, {e.workflow_id for e in new}

    async def _fold_workflows(
        self,
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
        self, conn: AsyncConnection, batch: list[event_pb2.Event], canonical: dict[str, str]
    ) -> None:
        if not batch:
            return
        task_keys = sorted({(canonical[e.workflow_id], e.task_event.task_id) for e in batch})
        attempt_keys = sorted(
            {(canonical[e.workflow_id], e.task_event.task_id, e.task_event.attempt) for e in batch
             if e.task_event.attempt > 0}
        )  # fmt: skip
        task_rows = await event_sql.lock_tasks(conn, task_keys)
        attempt_rows = await event_sql.lock_attempts(conn, attempt_keys) if attempt_keys else {}
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
            await event_sql.update_tasks(conn, [(k, task_rows[k]) for k in sorted(touched_tasks)])
        if touched_attempts:
            await event_sql.upsert_attempts(
                conn, [(k, attempt_rows[k]) for k in sorted(touched_attempts)]
            )

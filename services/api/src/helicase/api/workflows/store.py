"""The SQL of workflows: create (with its first event and launch command), read, list, cancel;
each in the caller's tenant (helicase.api.tenancy). Tasks and attempts are read only through a
workflow found in that tenant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.convert import parse_id
from helicase.api.events.store import event_row, record
from helicase.api.fairuse.limits import TenantLimits
from helicase.api.fairuse.store import check_queued
from helicase.api.outbox.store import queue_command
from helicase.api.tables import events, ssh_credentials, tasks, workflows
from helicase.api.workflows import reads
from helicase.api.workflows.inline import Budget
from helicase.api.workflows.reads import TaskReader
from helicase.api.workflows.references import credential_refs
from helicase.common import events as ev
from helicase.common.errors import FailedPrecondition, NotFound
from helicase.common.states import WS
from helicase.internal.v1 import command_pb2
from helicase.v1 import workflow_pb2

HEADER = [c for c in workflows.c if c.name != "definition"]  # a definition can be megabytes
FINISHED = (WS.WORKFLOW_STATE_COMPLETED, WS.WORKFLOW_STATE_FAILED)
STOPPING = (WS.WORKFLOW_STATE_CANCELING, WS.WORKFLOW_STATE_CANCELED)


async def _check_credentials(
    conn: AsyncConnection, tenant: str, definition: workflow_pb2.Workflow
) -> None:
    """NotFound naming each task param that names a credential not of `tenant`."""
    refs = credential_refs(definition)
    if not refs:
        return
    ids = {i for _, raw in refs if (i := parse_id(raw)) is not None}
    c = ssh_credentials.c
    owned = set(await conn.scalars(select(c.id).where(c.id.in_(ids), c.tenant == tenant)))
    missing = [f"{path}: no such credential" for path, raw in refs if parse_id(raw) not in owned]
    if missing:
        raise NotFound("; ".join(missing))


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What `WorkflowStore.changes` found."""

    horizon: int  # where the next read of changes starts
    header: workflow_pb2.Workflow  # without tasks; task_counts only when `counted`
    counted: bool
    tasks: list[workflow_pb2.Task]  # the changed tasks (if asked for), in definition order
    versions: dict[str, int]  # the xid of each changed task


class WorkflowStore:
    """Workflows and their read model, over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine, budget: Budget | None = None) -> None:
        self.engine = engine
        self.reader = TaskReader(budget or Budget())

    async def create_workflow(
        self,
        request_id: str,
        definition: workflow_pb2.Workflow,
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        *,
        limits: TenantLimits | None = None,
    ) -> tuple[workflow_pb2.Workflow, bool]:
        """Stores a validated workflow, its PENDING event and its launch command atomically.
        Returns (workflow, created); a known request_id returns the first workflow. `also`
        writes more rows in the same transaction (an experiment row), only when created.
        With the tenant's `limits`, a workflow over its queued-task quota is ResourceExhausted
        (nothing stored) and the launch carries its running-workflows limit."""
        workflow_id = uuid.UUID(definition.id)
        tenant = tenancy.owner()
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await _check_credentials(conn, tenant, definition)
            inserted = await conn.execute(
                insert(workflows)
                .values(
                    id=workflow_id,
                    tenant=tenant,
                    request_id=request_id or None,
                    display_name=definition.display_name,
                    labels=dict(definition.labels),
                    definition=definition.SerializeToString(),
                    task_count=len(definition.tasks),
                    state=WS.WORKFLOW_STATE_PENDING,
                    create_time=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant", "request_id"])
                .returning(workflows.c.id)
            )
            if inserted.first() is None:
                existing = await conn.scalar(
                    select(workflows.c.id).where(
                        workflows.c.tenant == tenant, workflows.c.request_id == request_id
                    )
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
            await conn.execute(insert(events).values(**event_row(pending)))
            if limits is not None:
                await check_queued(conn, tenant, limits)
            launch = command_pb2.LaunchCommand(
                workflow=definition,
                max_running_workflows=limits.max_running_workflows if limits else 0,
            )
            launch.workflow.create_time.FromDatetime(now)
            launch.workflow.tenant = tenant
            await queue_command(conn, definition.id, launch=launch)
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
        query = select(*HEADER).where(workflows.c.id == workflow_id, *tenancy.where(workflows))
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        if full:
            return await self.reader.full(conn, row._mapping)
        counts = await self.reader.counts(conn, [workflow_id])
        return await self.reader.header(conn, row._mapping, counts.get(workflow_id, {}))

    async def list_workflows(
        self,
        *,
        page: paging.Page,
        labels: dict[str, str],
        states: Sequence[int],
        full: bool,
    ) -> tuple[list[workflow_pb2.Workflow], str]:
        """A page of workflows, cut short (with the token of the last one kept) before the
        answer would pass the budget's answer_bytes."""
        query = select(*HEADER)
        if labels:
            query = query.where(workflows.c.labels.contains(labels))
        if states:
            query = query.where(workflows.c.state.in_(list(states)))
        filters = {"labels": labels, "states": sorted(set(states))}
        key = (workflows.c.create_time, workflows.c.id)
        result: list[workflow_pb2.Workflow] = []
        async with self.engine.connect() as conn:
            rows, token = await paging.list_page(
                conn, query, workflows, page, key=key, filters=filters
            )
            counts = {} if full else await self.reader.counts(conn, [r.id for r in rows])
            used = 0
            for row in rows:
                if full:
                    workflow = await self.reader.full(conn, row._mapping)
                else:
                    workflow = await self.reader.header(conn, row._mapping, counts.get(row.id, {}))
                used += workflow.ByteSize()
                if result and used > self.reader.budget.answer_bytes:
                    previous = rows[len(result) - 1]
                    token = paging.token_after(previous, workflows, key=key, filters=filters)
                    break
                result.append(workflow)
        return result, token

    async def list_tasks(
        self, workflow_id: uuid.UUID, *, page: paging.Page, states: Sequence[int]
    ) -> tuple[list[workflow_pb2.Task], str]:
        async with self.engine.connect() as conn:
            return await self.reader.task_page(conn, workflow_id, page, states)

    async def snapshot(self, workflow_id: uuid.UUID) -> tuple[int, workflow_pb2.Workflow]:
        """(the horizon to read changes from next, the workflow as a FULL read returns it)."""
        async with self.engine.connect() as conn:
            since = await reads.horizon(conn)
            found = await self._get(conn, workflow_id, full=True)
        if found is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return since, found

    async def changes(
        self, workflow_id: uuid.UUID, since: int, sent: Mapping[str, int], *, tasks_too: bool
    ) -> Changes:
        """What changed in the workflow since horizon `since`, less the task versions in `sent`
        (task id: xid): its header (task counts only when tasks changed) and, if `tasks_too`,
        the changed tasks whole."""
        async with self.engine.connect() as conn:
            horizon = await reads.horizon(conn)
            query = select(*HEADER).where(workflows.c.id == workflow_id, *tenancy.where(workflows))
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"workflow {workflow_id} not found")
            rows = await reads.changed_rows(conn, workflow_id, since)
            rows = [r for r in rows if sent.get(r.task_id) != r.xid]
            counts = await self.reader.counts(conn, [workflow_id]) if rows else {}
            header = await self.reader.header(conn, row._mapping, counts.get(workflow_id, {}))
            changed = await self.reader.messages(conn, workflow_id, rows) if tasks_too else []
        return Changes(
            horizon=horizon, header=header, counted=bool(rows), tasks=changed,
            versions={r.task_id: r.xid for r in rows},
        )  # fmt: skip

    async def cancel_workflow(self, workflow_id: uuid.UUID, reason: str) -> workflow_pb2.Workflow:
        """Marks a workflow CANCELING and queues the cancel command, atomically."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(workflows)
                    .where(workflows.c.id == workflow_id, *tenancy.where(workflows))
                    .with_for_update()
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
                await record(conn, [canceling])
                cancel = command_pb2.CancelCommand(reason=reason)
                await queue_command(conn, str(workflow_id), cancel=cancel)
            found = await self._get(conn, workflow_id, full=True)
        assert found is not None
        return found

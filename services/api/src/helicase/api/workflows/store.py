"""The SQL of workflows: create (with its first event and launch command), read, list, cancel;
each in the caller's tenant (helicase.api.tenancy). Tasks and attempts are read only through a
workflow found in that tenant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.convert import parse_id, workflow_message
from helicase.api.events.store import event_row, record
from helicase.api.fairuse.limits import TenantLimits
from helicase.api.fairuse.store import check_queued_tasks
from helicase.api.outbox.store import queue_command
from helicase.api.tables import events, ssh_credentials, task_attempts, tasks, workflows
from helicase.api.workflows.references import credential_refs
from helicase.common import events as ev
from helicase.common.errors import FailedPrecondition, NotFound
from helicase.common.states import WS
from helicase.internal.v1 import command_pb2
from helicase.v1 import workflow_pb2

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


class WorkflowStore:
    """Workflows and their read model, over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
                await check_queued_tasks(conn, tenant, limits.max_queued_tasks)
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
        query = select(workflows).where(workflows.c.id == workflow_id, *tenancy.where(workflows))
        row = (await conn.execute(query)).first()
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
        page: paging.Page,
        labels: dict[str, str],
        states: Sequence[int],
        full: bool,
    ) -> tuple[list[workflow_pb2.Workflow], str]:
        query = select(workflows)
        if labels:
            query = query.where(workflows.c.labels.contains(labels))
        if states:
            query = query.where(workflows.c.state.in_(list(states)))
        filters = {"labels": labels, "states": sorted(set(states))}
        async with self.engine.connect() as conn:
            rows, token = await paging.list_page(
                conn, query, workflows, page,
                key=(workflows.c.create_time, workflows.c.id), filters=filters,
            )  # fmt: skip
            if full:
                found = [await self._get(conn, r.id, full=True) for r in rows]
                result = [w for w in found if w is not None]
            else:
                counts = await self._counts(conn, [r.id for r in rows])
                result = [
                    workflow_message(r._mapping, tasks=None, counts=counts.get(r.id, {}))
                    for r in rows
                ]
        return result, token

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

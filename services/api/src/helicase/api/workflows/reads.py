"""The SQL of reading a workflow's tasks in bounded pieces: a FULL read's first tasks (capped,
helicase.api.workflows.inline), ListTasks' pages, and the tasks a watch was told changed.

Tasks are read by their position in the definition (`ordinal`, index tasks_workflow_ordinal);
their definition fields (type, params, dependencies...) come from the workflow's stored
definition, parsed once and kept in a small cache (definitions are immutable), so a page of a
100,000-task workflow does not parse the whole definition again. Callers have already found the
workflow in the caller's tenant (helicase.api.tenancy), except `task_page`, which checks."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Row, Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from helicase.api import paging, tenancy
from helicase.api.convert import apply_projection, attempts_by_task, fill_task, set_counts
from helicase.api.tables import Xid8, task_attempts, tasks, workflows
from helicase.api.workflows.inline import Budget, cap_tasks
from helicase.common.errors import NotFound
from helicase.v1 import workflow_pb2

TASK_KEY = (tasks.c.ordinal,)
LIST_TASKS_DEFAULT = 100
LIST_TASKS_MAX = 1_000
# The parsed definitions kept: at most this many tasks over all workflows, and this many
# workflows (each costs some KiB however small: without the second bound, 200,000 single-task
# workflows would be kept, and the api grew by about 6 KiB for every workflow it had read).
_CACHED_TASKS = 200_000
_CACHED_WORKFLOWS = 1_000
_CACHED_BYTES = 64 * 2**20
"""...and this many bytes of stored definitions: a definition may be 8 MiB (64 KiB of params
for each of 120 tasks), far under the other two bounds, and without this one the api kept every
such workflow it read (it grew 15 MiB for each 7.5 MiB workflow created)."""


def task_filters(workflow_id: uuid.UUID, states: Sequence[int]) -> dict[str, Any]:
    """What a ListTasks token is bound to (with the tenant, see paging)."""
    return {"workflow": str(workflow_id), "states": sorted(set(states))}


class Definitions:
    """Parsed definitions by workflow id, least recently used dropped past _CACHED_TASKS,
    _CACHED_WORKFLOWS or _CACHED_BYTES; each with its header (the definition without tasks)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[uuid.UUID, tuple[workflow_pb2.Workflow, workflow_pb2.Workflow]]
        self._cache = OrderedDict()
        self._sizes: dict[uuid.UUID, int] = {}
        self._tasks = 0
        self._bytes = 0

    async def get(
        self, conn: AsyncConnection, workflow_id: uuid.UUID
    ) -> tuple[workflow_pb2.Workflow, workflow_pb2.Workflow]:
        """(the definition, its header)."""
        found = self._cache.get(workflow_id)
        if found is not None:
            self._cache.move_to_end(workflow_id)
            return found
        raw = await conn.scalar(select(workflows.c.definition).where(workflows.c.id == workflow_id))
        if raw is None:
            raise NotFound(f"workflow {workflow_id} not found")
        parsed = workflow_pb2.Workflow.FromString(raw)
        header = workflow_pb2.Workflow()
        header.CopyFrom(parsed)
        del header.tasks[:]
        self._cache[workflow_id] = (parsed, header)
        self._sizes[workflow_id] = len(raw)
        self._tasks += len(parsed.tasks)
        self._bytes += len(raw)
        while len(self._cache) > 1 and (
            self._tasks > _CACHED_TASKS
            or len(self._cache) > _CACHED_WORKFLOWS
            or self._bytes > _CACHED_BYTES
        ):
            dropped_id, (dropped, _) = self._cache.popitem(last=False)
            self._tasks -= len(dropped.tasks)
            self._bytes -= self._sizes.pop(dropped_id)
        return parsed, header


class TaskReader:
    """Builds Task messages from task rows, within a Budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.definitions = Definitions()

    async def messages(
        self, conn: AsyncConnection, workflow_id: uuid.UUID, rows: Sequence[Row[Any]]
    ) -> list[workflow_pb2.Task]:
        """The tasks of `rows` (task rows of one workflow), whole, in the rows' order."""
        if not rows:
            return []
        definition, _ = await self.definitions.get(conn, workflow_id)
        ids = [r.task_id for r in rows]
        attempt_rows = await conn.execute(
            select(task_attempts).where(
                task_attempts.c.workflow_id == workflow_id, task_attempts.c.task_id.in_(ids)
            )
        )
        by_task = attempts_by_task(a._mapping for a in attempt_rows)
        out = []
        for row in rows:
            task = workflow_pb2.Task()
            task.CopyFrom(definition.tasks[row.ordinal])
            fill_task(task, row._mapping, by_task.get(row.task_id, []))
            out.append(task)
        return out

    async def counts(
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

    async def header(
        self, conn: AsyncConnection, row: Mapping[Any, Any], counts: Mapping[int, int]
    ) -> workflow_pb2.Workflow:
        """The workflow of `row` (a workflows row, its definition column not needed) without
        its tasks, with these task counts."""
        _, header = await self.definitions.get(conn, row["id"])
        workflow = workflow_pb2.Workflow()
        workflow.CopyFrom(header)
        workflow.id = str(row["id"])
        workflow.tenant = row["tenant"]
        apply_projection(workflow, row)
        set_counts(workflow, counts)
        return workflow

    async def full(self, conn: AsyncConnection, row: Mapping[Any, Any]) -> workflow_pb2.Workflow:
        """The workflow of `row` (a workflows row) with its first tasks, capped; when capped,
        tasks_truncated and the ListTasks token of the rest."""
        workflow_id = row["id"]
        counts = await self.counts(conn, [workflow_id])
        workflow = await self.header(conn, row, counts.get(workflow_id, {}))
        task_rows = (
            await conn.execute(
                select(tasks)
                .where(
                    tasks.c.workflow_id == workflow_id, tasks.c.ordinal < self.budget.inline_tasks
                )
                .order_by(tasks.c.ordinal)
            )
        ).all()
        workflow.tasks.extend(await self.messages(conn, workflow_id, task_rows))
        kept = cap_tasks(workflow, self.budget)
        if kept < row["task_count"]:
            workflow.tasks_truncated = True
            workflow.next_tasks_page_token = paging.token_after(
                {"ordinal": task_rows[kept - 1].ordinal if kept else -1}, tasks, key=TASK_KEY,
                filters=task_filters(workflow_id, []), parent_checked=True,
            )  # fmt: skip
        return workflow

    async def task_page(
        self,
        conn: AsyncConnection,
        workflow_id: uuid.UUID,
        page: paging.Page,
        states: Sequence[int],
    ) -> tuple[list[workflow_pb2.Task], str]:
        """One page of ListTasks: the workflow must be the caller's tenant's (else NotFound)."""
        owned = await conn.scalar(
            select(workflows.c.id).where(workflows.c.id == workflow_id, *tenancy.where(workflows))
        )
        if owned is None:
            raise NotFound(f"workflow {workflow_id} not found")
        query = select(tasks).where(tasks.c.workflow_id == workflow_id)
        if states:
            query = query.where(tasks.c.state.in_(list(states)))
        filters = task_filters(workflow_id, states)
        rows, token = await paging.list_page(
            conn, query, tasks, page, key=TASK_KEY, descending=False, filters=filters,
            parent_checked=True,
        )  # fmt: skip
        found = await self.messages(conn, workflow_id, rows)
        return paging.fit_page(
            found, (t.ByteSize() for t in found), rows, token, tasks, key=TASK_KEY,
            filters=filters, parent_checked=True, budget=self.budget.answer_bytes,
        )  # fmt: skip


# -- what changed -------------------------------------------------------------------------------
# A task row records the transaction that last changed it (change_xid, set by RecordEvents). A
# watch notes the oldest transaction still running when it reads (the horizon: every older one
# has committed or aborted, so its rows were visible to that read) and next reads the rows changed
# by that transaction or any later one: nothing committed late is missed, and what is read twice
# the watch recognises by (task, xid).

HORIZON = text("SELECT CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text)")


async def horizon(conn: AsyncConnection) -> int:
    return int(await conn.scalar(HORIZON) or 0)


async def changed_rows(conn: AsyncConnection, workflow_id: uuid.UUID, since: int) -> list[Row[Any]]:
    """The workflow's task rows changed by transaction `since` or later, in definition order,
    each with its `xid` (an int)."""
    query = (
        select(tasks, cast(cast(tasks.c.change_xid, Text), BigInteger).label("xid"))
        .where(tasks.c.workflow_id == workflow_id, tasks.c.change_xid >= cast(str(since), Xid8))
        .order_by(tasks.c.ordinal)
    )
    return list((await conn.execute(query)).all())

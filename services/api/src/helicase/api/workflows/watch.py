"""One WatchWorkflow stream: a snapshot, then what changed, read from PostgreSQL by change
(helicase.api.workflows.reads) rather than the whole workflow on every wake-up.

Each wake-up (a notification that the workflow's projection changed, or the safety refresh)
reads the workflow's row and only the tasks changed since the last read. Nothing changed:
nothing is sent. Without `changes_only` a change sends the workflow as a FULL read returns it
(tasks up to the inline cap), as the stream always did; with it, the header and the changed
tasks, in messages of at most the inline cap of tasks and half the answer budget of bytes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from helicase.api.workflows.inline import chunks
from helicase.api.workflows.store import Changes, WorkflowStore
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.v1 import workflow_pb2, workflow_service_pb2

Response = workflow_service_pb2.WatchWorkflowResponse


def _header_key(workflow: workflow_pb2.Workflow) -> bytes:
    """What a header change is judged by: the workflow less its tasks and what describes them
    (counts change only with tasks, which are compared by their versions)."""
    probe = workflow_pb2.Workflow()
    probe.CopyFrom(workflow)
    for name in ("tasks", "task_counts", "tasks_truncated", "next_tasks_page_token"):
        probe.ClearField(name)
    return probe.SerializeToString(deterministic=True)


class WorkflowWatch:
    """The messages of one stream, from `snapshot` then each `changed` call."""

    def __init__(self, store: WorkflowStore, workflow_id: uuid.UUID, *, changes_only: bool) -> None:
        self._store = store
        self._id = workflow_id
        self._changes_only = changes_only
        self._since = 0
        self._sent: dict[str, int] = {}  # task id: xid, of tasks sent whose xid >= the horizon
        self._header = b""
        self._counts: dict[str, int] = {}
        self.ended = False

    async def snapshot(self) -> Response:
        self._since, workflow = await self._store.snapshot(self._id)
        self._note(workflow)
        return Response(workflow=workflow, snapshot=True)

    async def changed(self) -> AsyncIterator[Response]:
        """The messages for what changed since the previous call (none when nothing did)."""
        found = await self._store.changes(
            self._id, self._since, self._sent, tasks_too=self._changes_only
        )
        self._advance(found)
        header = found.header
        if found.counted:
            self._counts = dict(header.task_counts)
        else:
            header.task_counts.update(self._counts)
        key = _header_key(header)
        if not found.versions and key == self._header:
            return
        if not self._changes_only:
            _, workflow = await self._store.snapshot(self._id)
            self._note(workflow)
            yield Response(workflow=workflow, snapshot=True)
            return
        self._note(header)
        if not found.tasks:
            yield Response(workflow=header)
        for run in chunks(found.tasks, self._store.reader.budget):
            yield Response(workflow=header, changed_tasks=run)

    def _advance(self, found: Changes) -> None:
        self._sent = {t: x for t, x in self._sent.items() if x >= found.horizon}
        self._sent.update({t: x for t, x in found.versions.items() if x >= found.horizon})
        self._since = found.horizon

    def _note(self, workflow: workflow_pb2.Workflow) -> None:
        self._header = _header_key(workflow)
        self._counts = dict(workflow.task_counts)
        self.ended = workflow.state in WORKFLOW_TERMINAL

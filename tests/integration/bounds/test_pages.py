"""Big workflows are read in pages: ListTasks pages through any number of tasks, FULL reads
inline a bounded number of tasks and say where the rest is, no list answer passes the message
limit, and WatchWorkflow sends a bounded snapshot then only what changed.

The big workflows here never run: their tasks wait behind a gate task of an instance group that
no participant serves ("parked"), so they stay PENDING until the test cancels them."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from helicase.client import MAX_MESSAGE_BYTES, HelicaseClient
from helicase.devstack.testing import RunningSuite
from helicase.v1 import workflow_pb2, workflow_service_pb2
from tests.integration.bounds.conftest import BIG
from tests.integration.helpers import client_as, request

TS = workflow_pb2.TaskState
INLINE_TASKS = 1_000  # HELICASE_INLINE_TASKS' default


def gated(n: int, *, params: dict[str, Any] | None = None, free: int = 0) -> list[dict[str, Any]]:
    """A parked gate, `n` tasks waiting for it and `free` noop tasks that run at once."""
    extra = {"type": "shell", "params": params} if params else {"type": "noop"}
    return [
        {"id": "gate", "type": "noop", "instanceGroup": "parked"},
        *({"id": f"t{i:06d}", "dependsOn": ["gate"], **extra} for i in range(n)),
        *({"id": f"free{i}", "type": "noop"} for i in range(free)),
    ]


async def all_tasks(
    client: HelicaseClient,
    workflow_id: str,
    states: list[workflow_pb2.TaskState.ValueType],
    page_size: int,
    token: str = "",
) -> list[workflow_pb2.Task]:
    out: list[workflow_pb2.Task] = []
    while True:
        page = await client.list_tasks(
            workflow_service_pb2.ListTasksRequest(
                workflow_id=workflow_id, page_size=page_size, page_token=token, states=states
            )
        )
        assert page.ByteSize() < MAX_MESSAGE_BYTES // 2
        out += page.tasks
        token = page.next_page_token
        if not token:
            return out


@pytest.fixture
async def client(suite: RunningSuite) -> AsyncIterator[HelicaseClient]:
    async with client_as(suite, "pages", timeout=120) as c:
        yield c


async def test_list_tasks_pages_through_a_workflow_by_state(
    suite: RunningSuite, client: HelicaseClient
) -> None:
    created = await client.create(request(gated(1_900, free=3)))
    try:
        for _ in range(200):  # the free tasks complete
            counts = (await client.get(created.id, full=False)).task_counts
            if counts.get("TASK_STATE_COMPLETED") == 3:
                break
            await asyncio.sleep(0.1)
        done = await all_tasks(client, created.id, [TS.TASK_STATE_COMPLETED], 2)
        assert [t.id for t in done] == ["free0", "free1", "free2"]
        assert all(t.attempts for t in done)
        pending = await all_tasks(client, created.id, [TS.TASK_STATE_PENDING], 1_000)
        # (the gate, which no participant can take, may be PENDING or READY)
        assert [t.id for t in pending if t.id != "gate"] == [f"t{i:06d}" for i in range(1_900)]
        assert {t.state for t in pending} == {TS.TASK_STATE_PENDING}
        everything = await all_tasks(client, created.id, [], 0)
        assert len(everything) == 1_904 and everything[0].id == "gate"

        # the FULL read inlines the first tasks and points at the rest
        full = await client.get(created.id)
        assert full.task_count == 1_904 and full.tasks_truncated
        assert [t.id for t in full.tasks] == [t.id for t in everything[:INLINE_TASKS]]
        rest = await all_tasks(client, created.id, [], 1_000, full.next_tasks_page_token)
        assert [t.id for t in rest] == [t.id for t in everything[INLINE_TASKS:]]

        # a token is bound to its filter; another tenant does not see the workflow
        first = await client.list_tasks(
            workflow_service_pb2.ListTasksRequest(workflow_id=created.id, page_size=5)
        )
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await client.list_tasks(
                workflow_service_pb2.ListTasksRequest(
                    workflow_id=created.id, page_token=first.next_page_token,
                    states=[TS.TASK_STATE_PENDING],
                )
            )  # fmt: skip
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        async with client_as(suite, "pages-other", "viewer") as other:
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await other.list_tasks(
                    workflow_service_pb2.ListTasksRequest(workflow_id=created.id)
                )
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        async with client_as(suite, "pages", "viewer") as viewer:
            seen = await viewer.list_tasks(
                workflow_service_pb2.ListTasksRequest(workflow_id=created.id, page_size=1)
            )
            assert [t.id for t in seen.tasks] == ["gate"]
    finally:
        await client.cancel(created.id)


async def test_list_workflows_full_stays_under_the_message_limit(client: HelicaseClient) -> None:
    """Four workflows of 1,900 tasks with 3 KB of params each: 5.8 MB each when whole, 23 MB in
    one FULL page (RESOURCE_EXHAUSTED before the fix)."""
    label = uuid.uuid4().hex[:12]
    params = {"command": "true " + "x" * 3_000}
    ids = [
        (await client.create(request(gated(1_900, params=params), labels={"run": label}))).id
        for _ in range(4)
    ]
    try:
        seen: list[workflow_pb2.Workflow] = []
        token, pages = "", 0
        while True:
            page = await client.list_workflows(
                workflow_service_pb2.ListWorkflowsRequest(
                    page_size=20, page_token=token, labels={"run": label},
                    view=workflow_pb2.WORKFLOW_VIEW_FULL,
                )
            )  # fmt: skip
            assert page.ByteSize() < MAX_MESSAGE_BYTES * 0.6
            seen += page.workflows
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert sorted(w.id for w in seen) == sorted(ids)
        assert pages > 1  # the page shrank to fit rather than pass the limit
        for workflow in seen:
            assert workflow.task_count == 1_901 and workflow.tasks_truncated
            assert 0 < len(workflow.tasks) <= INLINE_TASKS
            rest = await all_tasks(client, workflow.id, [], 1_000, workflow.next_tasks_page_token)
            assert len(workflow.tasks) + len(rest) == 1_901
            assert rest[-1].id == "t001899"
    finally:
        for workflow_id in ids:
            await client.cancel(workflow_id)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def big_request(n: int, free: int) -> workflow_service_pb2.CreateWorkflowRequest:
    """gated(n, free=free) built directly (from JSON it takes seconds)."""
    out = workflow_service_pb2.CreateWorkflowRequest()
    out.workflow.display_name = "big"
    out.workflow.tasks.add(id="gate", type="noop", instance_group="parked")
    for i in range(n):
        out.workflow.tasks.add(id=f"t{i:06d}", type="noop", depends_on=["gate"])
    for i in range(free):
        out.workflow.tasks.add(id=f"free{i}", type="noop")
    return out


@pytest.mark.timeout(600)  # creating 100,000 tasks takes a minute on a busy machine
async def test_watch_of_a_100k_task_workflow_sends_a_snapshot_then_changes(
    big_suite: RunningSuite,
) -> None:
    async with HelicaseClient(big_suite.api_addr, token=big_suite.token, timeout=120) as client:
        await _watch_a_big_workflow(big_suite, client)


async def _watch_a_big_workflow(suite: RunningSuite, client: HelicaseClient) -> None:
    started = time.monotonic()
    created = await client.create(big_request(BIG - 4, free=3))
    print(f"created {BIG} tasks in {time.monotonic() - started:.1f} s")
    api_pid = suite.supervisor.pid("api")
    assert api_pid is not None
    watch = client._workflows.WatchWorkflow(
        workflow_service_pb2.WatchWorkflowRequest(id=created.id, changes_only=True), timeout=300
    )
    messages: list[workflow_service_pb2.WatchWorkflowResponse] = []
    canceled = False
    try:
        stream = aiter(watch)
        snapshot = await anext(stream)
        messages.append(snapshot)
        assert len(snapshot.workflow.tasks) <= INLINE_TASKS and snapshot.workflow.tasks_truncated
        assert snapshot.snapshot and snapshot.workflow.task_count == BIG
        while snapshot.workflow.task_counts.get("TASK_STATE_COMPLETED", 0) < 3:
            message = await asyncio.wait_for(anext(stream), 60)
            messages.append(message)
            assert not message.snapshot and not message.workflow.tasks
            snapshot = message
        changed = {t.id for m in messages[1:] for t in m.changed_tasks}
        assert {"free0", "free1", "free2"} <= changed and len(changed) < 10

        # quiet now: an open watch of 100,000 tasks costs the api next to nothing
        await asyncio.sleep(1.5)
        before, window = _cpu_seconds(api_pid), 4.0
        await asyncio.sleep(window)
        spent = _cpu_seconds(api_pid) - before
        print(f"api CPU over {window} s of a quiet watch: {spent:.2f} s")
        assert spent < 0.25 * window

        # the cancel changes the header, then (as the pipeline records them) every task, in
        # messages of at most INLINE_TASKS tasks each
        await client.cancel(created.id)
        canceled = True
        mark, changed_after = len(messages), 0
        deadline = time.monotonic() + 20
        while changed_after < 3 * INLINE_TASKS and time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(anext(stream), deadline - time.monotonic())
            except (StopAsyncIteration, TimeoutError):
                break
            messages.append(message)
            changed_after += len(message.changed_tasks)
        after = messages[mark:]
        assert after and after[-1].workflow.state in (
            workflow_pb2.WORKFLOW_STATE_CANCELING,
            workflow_pb2.WORKFLOW_STATE_CANCELED,
        )
        assert all(len(m.changed_tasks) <= INLINE_TASKS for m in after)
    finally:
        watch.cancel()
        if not canceled:
            await client.cancel(created.id)
    sizes = [m.ByteSize() for m in messages]
    print(
        f"{len(messages)} messages, {changed_after} tasks changed after the cancel, largest "
        f"{max(sizes)} bytes"
    )
    assert max(sizes) < MAX_MESSAGE_BYTES // 8

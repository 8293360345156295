"""Shared helpers of the integration tests: workflow builders, waiting, and databases for
tests of the api's stores."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest

from helicase.api import migrations
from helicase.api.config import sqlalchemy_url
from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.states import TS, WS
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from helicase.v1 import workflow_pb2, workflow_service_pb2


def request(
    tasks: list[dict[str, Any]], **workflow: Any
) -> workflow_service_pb2.CreateWorkflowRequest:
    return load_workflow_request({"workflow": {"displayName": "test", **workflow, "tasks": tasks}})


def task_states(workflow: workflow_pb2.Workflow) -> dict[str, str]:
    return {t.id: TS.Name(t.state).removeprefix("TASK_STATE_") for t in workflow.tasks}


def state(workflow: workflow_pb2.Workflow) -> str:
    return WS.Name(workflow.state).removeprefix("WORKFLOW_STATE_")


async def run_to_end(
    client: HelicaseClient, tasks: list[dict[str, Any]], within: float = 60, **workflow: Any
) -> workflow_pb2.Workflow:
    created = await client.create(request(tasks, **workflow))
    return await client.wait(created.id, within=within)


async def running_task(client: HelicaseClient, workflow_id: str, task_id: str) -> workflow_pb2.Task:
    """The task once a participant runs it (as the stored projection shows)."""
    for _ in range(300):
        workflow = await client.get(workflow_id)
        task = next(t for t in workflow.tasks if t.id == task_id)
        if task.state == workflow_pb2.TASK_STATE_RUNNING and task.participant:
            return task
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} never ran")


async def refused_fields(
    client: HelicaseClient, request: workflow_service_pb2.CreateWorkflowRequest
) -> list[str]:
    """The fields the field violations of a CreateWorkflow refused as INVALID_ARGUMENT name."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.create(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    return [v.field for v in field_violations(info.value)]


async def gather_limited(coros: list[Any], limit: int = 20) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def client_as(
    suite: RunningSuite, tenant: str, role: str = "admin", **options: Any
) -> HelicaseClient:
    """A client acting as a new API key of `tenant` (created if missing) with `role` ("viewer",
    "submitter" or "admin"); the key is issued through AdminService with the suite's platform
    admin token (RunningSuite.issue_key)."""
    return HelicaseClient(suite.api_addr, token=suite.issue_key(tenant, role), **options)


def migrated_database(infra: Any, prefix: str) -> str:
    """The URL of a new database on the harness's PostgreSQL, at the api's latest schema."""
    url: str = infra.postgres.create_database(f"{prefix}{uuid.uuid4().hex[:10]}")
    migrations.upgrade(sqlalchemy_url(url))
    return url

"""Bad requests get INVALID_ARGUMENT naming each offending field and store nothing;
unknown ids get NOT_FOUND; illegal cancels get FAILED_PRECONDITION."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import psycopg
import pytest

from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.status import field_violations
from tests.integration.helpers import refused_fields, run_to_end, state

TABLES = ("workflows", "tasks", "events", "outbox")

BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "cycle",
        {"tasks": [{"id": "a", "type": "noop", "dependsOn": ["b"]},
                   {"id": "b", "type": "noop", "dependsOn": ["a"]}]},
        "workflow.tasks[",
    ),
    (
        "unknown dependency",
        {"tasks": [{"id": "a", "type": "noop", "dependsOn": ["ghost"]}]},
        "workflow.tasks[0].depends_on[0]",
    ),
    (
        "duplicate id",
        {"tasks": [{"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}]},
        "workflow.tasks[1].id",
    ),
    ("unknown type", {"tasks": [{"id": "a", "type": "teleport"}]}, "workflow.tasks[0].type"),
    (
        "wrong param type",
        {"tasks": [{"id": "a", "type": "sleep", "params": {"seconds": "soon"}}]},
        "workflow.tasks[0].params",
    ),
    ("empty workflow", {"tasks": []}, "workflow.tasks"),
    (
        "oversize params",
        {"tasks": [{"id": "a", "type": "shell", "params": {"command": "x" * 70_000}}]},
        "workflow.tasks[0].params",
    ),
]  # fmt: skip


def row_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.mark.parametrize(
    ("case", "workflow", "field"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_request_is_refused_with_field_violations_and_stores_nothing(
    suite: Any, case: str, workflow: dict[str, Any], field: str
) -> None:
    before = row_counts(suite.database_url)
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        fields = await refused_fields(client, load_workflow_request({"workflow": workflow}))
    assert any(f.startswith(field) for f in fields), (case, fields)
    assert row_counts(suite.database_url) == before


async def test_too_many_tasks_is_refused(suite: Any) -> None:
    tasks = [{"id": f"t{i}", "type": "noop"} for i in range(suite.max_tasks + 1)]
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.create(load_workflow_request({"workflow": {"tasks": tasks}}))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(info.value)] == ["workflow.tasks"]


async def test_unknown_ids_are_not_found(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: client.get("00000000-0000-0000-0000-000000000000"),
            lambda: client.get("not-a-uuid"),
            lambda: client.cancel("00000000-0000-0000-0000-000000000000"),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call()
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in client.watch("00000000-0000-0000-0000-000000000000"):
                pass
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancelling_a_finished_workflow_is_a_failed_precondition(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, [{"id": "a", "type": "noop"}])
        assert state(done) == "COMPLETED"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.cancel(done.id)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION

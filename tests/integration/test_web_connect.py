"""The api's HTTP port speaks Connect (JSON) for the public services: unary calls, errors with
their BadRequest field violations, and the WatchWorkflow stream with its end-stream frame."""

from __future__ import annotations

import json
import struct
from typing import Any

import aiohttp

from helicase.devstack.testing import RunningSuite


def bearer(suite: RunningSuite) -> dict[str, str]:
    return {"Authorization": f"Bearer {suite.token}"}


def web_url(suite: RunningSuite) -> str:
    return "http://" + suite.specs["api"].env["HELICASE_WEB_ADDR"]


async def unary(suite: RunningSuite, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{web_url(suite)}/helicase.v1.{method}",
            json=body,
            headers={"Connect-Protocol-Version": "1", **bearer(suite)},
        ) as resp,
    ):
        return resp.status, await resp.json()


def frames(raw: bytes) -> list[tuple[int, Any]]:
    out = []
    while raw:
        flags, size = struct.unpack(">BI", raw[:5])
        out.append((flags, json.loads(raw[5 : 5 + size])))
        raw = raw[5 + size :]
    return out


async def test_unary_call_lists_the_live_task_types(suite: RunningSuite) -> None:
    status, body = await unary(suite, "TaskTypeService/ListTaskTypes", {})
    assert status == 200
    names = {t["name"] for t in body["taskTypes"]}
    assert {"noop", "sleep", "shell"} <= names
    shell = next(t for t in body["taskTypes"] if t["name"] == "shell")
    assert "default" in shell["instanceGroups"]
    assert "command" in shell["paramsSchema"]["properties"]


async def test_validation_error_carries_field_violations(suite: RunningSuite) -> None:
    workflow = {"tasks": [{"id": "a", "type": "noop", "dependsOn": ["b"]},
                          {"id": "b", "type": "sleep", "dependsOn": ["a"],
                           "params": {"seconds": "soon"}}]}  # fmt: skip
    status, body = await unary(suite, "WorkflowService/CreateWorkflow", {"workflow": workflow})
    assert status == 400
    assert body["code"] == "invalid_argument"
    [detail] = body["details"]
    assert detail["type"] == "google.rpc.BadRequest"
    assert detail["value"]  # the packed bytes, for clients that decode them
    fields = {v["field"]: v["description"] for v in detail["debug"]["fieldViolations"]}
    assert any("cycle" in d for d in fields.values()), fields
    assert "workflow.tasks[1].params.seconds" in fields


async def test_unknown_workflow_is_not_found_and_bad_json_invalid(suite: RunningSuite) -> None:
    status, body = await unary(
        suite, "WorkflowService/GetWorkflow", {"id": "00000000-0000-0000-0000-000000000000"}
    )
    assert (status, body["code"]) == (404, "not_found")
    status, body = await unary(suite, "WorkflowService/GetWorkflow", {"nope": 1})
    assert (status, body["code"]) == (400, "invalid_argument")


async def test_watch_streams_until_completed_then_ends_the_stream(suite: RunningSuite) -> None:
    workflow = {"displayName": "web-watch",
                "tasks": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop",
                                                        "dependsOn": ["a"]}]}  # fmt: skip
    status, body = await unary(suite, "WorkflowService/CreateWorkflow", {"workflow": workflow})
    assert status == 200, body
    workflow_id = body["workflow"]["id"]
    request = json.dumps({"id": workflow_id}).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{web_url(suite)}/helicase.v1.WorkflowService/WatchWorkflow",
            data=struct.pack(">BI", 0, len(request)) + request,
            headers={
                "Content-Type": "application/connect+json",
                "Connect-Protocol-Version": "1",
                **bearer(suite),
            },
            timeout=aiohttp.ClientTimeout(total=90),
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/connect+json")
        got = frames(await resp.read())
    *messages, (end_flags, end) = got
    assert end_flags == 0x02 and end == {}
    assert messages and all(flags == 0 for flags, _ in messages)
    last = messages[-1][1]["workflow"]
    assert last["state"] == "WORKFLOW_STATE_COMPLETED"
    assert {t["state"] for t in last["tasks"]} == {"TASK_STATE_COMPLETED"}


async def test_watch_of_unknown_workflow_ends_with_an_error_frame(suite: RunningSuite) -> None:
    request = json.dumps({"id": "not-a-uuid"}).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{web_url(suite)}/helicase.v1.WorkflowService/WatchWorkflow",
            data=struct.pack(">BI", 0, len(request)) + request,
            headers={"Content-Type": "application/connect+json", **bearer(suite)},
        ) as resp,
    ):
        got = frames(await resp.read())
    [(flags, end)] = got
    assert flags == 0x02
    assert end["error"]["code"] == "not_found"


async def test_the_composer_is_served_for_client_routes(suite: RunningSuite) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/workflows/some-id"):
            async with http.get(web_url(suite) + path) as resp:
                assert resp.status == 200
                assert "<title>Helicase composer</title>" in await resp.text()
        async with http.get(web_url(suite) + "/../../etc/passwd") as resp:
            assert "root:" not in await resp.text()

"""The limits at the edge, against a real suite: an over-limit field costs its caller
INVALID_ARGUMENT naming the field and stores nothing, and a task whose outputs are not finite
JSON (or too big) fails saying so, while every other workflow keeps flowing."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import struct_pb2

from helicase.client import HelicaseClient, load_workflow_request
from helicase.common import events, limits, tls
from helicase.common.states import TS
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from helicase.internal.v1 import event_pb2, event_pb2_grpc
from tests.integration.bounds import emitting
from tests.integration.helpers import refused_fields, run_to_end, running_task, state, task_states

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def emitter(suite: RunningSuite) -> Iterator[str]:
    """The instance group of a participant serving emitting.TYPE."""
    group = f"emit{uuid.uuid4().hex[:8]}"
    env = {
        "HELICASE_PARTICIPANT_MODULES": emitting.__name__,
        "HELICASE_PARTICIPANT_TASK_TYPES": emitting.TYPE,
        "PYTHONPATH": str(ROOT),
    }
    with suite.extra_participant(group, env):
        yield group


def counts(suite: RunningSuite, workflow_id: str | None = None) -> dict[str, int]:
    """Rows of the tables a request could write to (of one workflow, when given)."""
    where = {"workflows": "id::text", "outbox": "key", "events": "workflow_id::text"}
    with psycopg.connect(suite.database_url) as conn:
        return {
            table: conn.execute(
                f"select count(*) from {table}" + (f" where {column} = %s" if workflow_id else ""),
                (workflow_id,) if workflow_id else (),
            ).fetchone()[0]  # type: ignore[index]
            for table, column in where.items()
        }


def stored_messages(suite: RunningSuite, workflow_id: str) -> list[str]:
    """The messages of the events stored for a workflow."""
    with psycopg.connect(suite.database_url) as conn:
        rows = conn.execute(
            "select payload from events where workflow_id = %s", (workflow_id,)
        ).fetchall()
    out = []
    for (payload,) in rows:
        event = event_pb2.Event.FromString(payload)
        kind = event.WhichOneof("payload")
        out.append(
            event.task_event.message if kind == "task_event" else event.workflow_event.message
        )
    return out


async def canary(client: HelicaseClient) -> None:
    """A one-task workflow completes within seconds: the pipeline flows."""
    done = await run_to_end(client, [{"id": "canary", "type": "noop"}], within=30)
    assert state(done) == "COMPLETED", done


async def test_a_200_kb_cancel_reason_is_refused_and_the_workflow_runs_on(
    suite: RunningSuite,
) -> None:
    tasks = [{"id": i, "type": "sleep", "params": {"seconds": 60}} for i in ("a", "b", "c")]
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        created = await client.create(load_workflow_request({"workflow": {"tasks": tasks}}))
        await running_task(client, created.id, "a")
        before = counts(suite, created.id)["outbox"]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.cancel(created.id, reason="r" * 200_000)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(info.value)] == ["reason"]
        assert counts(suite, created.id)["outbox"] == before  # no cancel command queued
        assert state(await client.get(created.id)) == "RUNNING"

        await client.cancel(created.id, reason="enough")
        ended = await client.wait(created.id, within=30)
        assert state(ended) == "CANCELED", ended
        assert set(task_states(ended).values()) == {"CANCELED"}
        said = [m for m in stored_messages(suite, created.id) if "enough" in m]
        assert said, "the cancel's events were not stored"
        assert max(len(m) for m in said) < limits.MESSAGE
        await canary(client)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("nan", "outputs are not finite JSON: NaN at $.x"),
        ("infinity", "outputs are not finite JSON: Infinity at $.nested.values[1]"),
    ],
)
async def test_outputs_that_are_not_finite_json_fail_the_task_saying_where(
    suite: RunningSuite, emitter: str, kind: str, said: str
) -> None:
    task = {"id": "a", "type": emitting.TYPE, "instanceGroup": emitter, "params": {"kind": kind},
            "retry": {"maxAttempts": 1}}  # fmt: skip
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, [task], within=30)
        assert state(done) == "FAILED", done
        assert task_states(done) == {"a": "FAILED"}
        assert done.tasks[0].message == said
        assert not done.tasks[0].outputs
        await canary(client)


async def test_oversize_outputs_fail_the_task_saying_so(suite: RunningSuite, emitter: str) -> None:
    params = {"kind": "big", "size": limits.OUTPUTS_BYTES}
    task = {"id": "a", "type": emitting.TYPE, "instanceGroup": emitter, "params": params,
            "retry": {"maxAttempts": 1}}  # fmt: skip
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, [task], within=30)
        assert task_states(done) == {"a": "FAILED"}, done
        assert done.tasks[0].message.endswith(f"bytes as JSON; the limit is {limits.OUTPUTS_BYTES}")
        fine = {**task, "params": {"kind": "fine"}}
        assert state(await run_to_end(client, [fine], within=30)) == "COMPLETED"


async def test_record_events_refuses_nan_outputs_as_invalid_argument(
    suite: RunningSuite,
) -> None:
    workflow_id = str(uuid.uuid4())
    outputs = struct_pb2.Struct()
    outputs.update({"x": math.nan})
    event = events.task_event(
        workflow_id=workflow_id, task_id="a", attempt=1, placement=0,
        state=TS.TASK_STATE_COMPLETED, source="test", outputs=outputs,
    )  # fmt: skip
    sink = suite.certificate("sink", f"sink-{uuid.uuid4().hex[:6]}")
    async with tls.channel(suite.api_internal_addr, sink, "api") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await event_pb2_grpc.EventServiceStub(channel).RecordEvents(
                event_pb2.RecordEventsRequest(events=[event]), timeout=10
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert [v.field for v in field_violations(info.value)] == ["events[0].task_event.outputs"]
    assert counts(suite, workflow_id)["events"] == 0


def over_limit_cases() -> list[tuple[str, dict[str, Any], str]]:
    noop = [{"id": "a", "type": "noop"}]
    deep: dict[str, Any] = {}
    for _ in range(limits.JSON_DEPTH):
        deep = {"d": deep}
    return [
        ("label count", {"labels": {f"k{i}": "v" for i in range(limits.LABELS + 1)},
                         "tasks": noop}, "workflow.labels"),
        ("label key", {"labels": {"k" * 200: "v"}, "tasks": noop}, "workflow.labels["),
        ("label value", {"labels": {"team": "v" * 1000}, "tasks": noop}, "workflow.labels[team]"),
        ("display name", {"displayName": "n" * 10_000, "tasks": noop}, "workflow.display_name"),
        ("deep params", {"tasks": [{"id": "a", "type": "noop", "params": deep}]},
         "workflow.tasks[0].params"),
        ("task type", {"tasks": [{"id": "a", "type": "t" * 10_000}]}, "workflow.tasks[0].type"),
        # 2,000 violations, each echoing its value: the error itself must stay sendable.
        ("many violations", {"tasks": [{"id": f"t{i}", "type": "noop", "dependsOn": ["g" * 60]}
                                       for i in range(2000)]}, "workflow.tasks[0].depends_on[0]"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "workflow", "field"), over_limit_cases(), ids=[c[0] for c in over_limit_cases()]
)
async def test_over_limit_fields_are_refused_naming_them_and_store_nothing(
    suite: RunningSuite, case: str, workflow: dict[str, Any], field: str
) -> None:
    before = counts(suite)
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        fields = await refused_fields(client, load_workflow_request({"workflow": workflow}))
    assert any(f.startswith(field) for f in fields), (case, fields)
    assert counts(suite)["workflows"] == before["workflows"]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
async def test_params_that_are_not_finite_json_are_refused(suite: RunningSuite, bad: float) -> None:
    request = load_workflow_request(
        {"workflow": {"tasks": [{"id": "a", "type": "sleep", "params": {"seconds": 0}}]}}
    )
    request.workflow.tasks[0].params.update({"seconds": bad})  # binary protobuf carries it
    before = counts(suite)["workflows"]
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        assert await refused_fields(client, request) == ["workflow.tasks[0].params"]
    assert counts(suite)["workflows"] == before

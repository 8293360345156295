"""The api alone (`python -m helicase.api` as a subprocess) against real PostgreSQL, ZooKeeper and
Kafka: what Create/Cancel store, idempotency of Create and RecordEvents, projections, Watch, List,
the task-type registry, and the relay's launch command on Kafka."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from confluent_kafka import Consumer
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kazoo.client import KazooClient

from helicase import wire
from helicase.api import migrations
from helicase.common import events, tls, topics, zkpaths
from helicase.common.registry import ParticipantInfo, TaskTypeInfo, encode_task_type
from helicase.common.states import TS, WS
from helicase.common.status import field_violations
from helicase.common.tls import Identity, TlsFiles
from helicase.devstack import free_port, pki
from helicase.devstack.testing import issue_key
from helicase.internal.v1 import command_pb2, event_pb2, event_pb2_grpc
from helicase.v1 import (
    task_type_pb2,
    task_type_pb2_grpc,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)

TABLES = ("workflows", "tasks", "task_attempts", "events", "outbox")
TYPES = [
    TaskTypeInfo(name="noop", params_schema={"type": "object"}),
    TaskTypeInfo(
        name="sleep",
        params_schema={"type": "object", "required": ["seconds"],
                       "properties": {"seconds": {"type": "number", "minimum": 0}}},
    ),
]  # fmt: skip


@dataclass
class Api:
    addr: str
    internal_addr: str  # mutual TLS: RecordEvents is served there, to the sink's certificate
    sink: TlsFiles
    database_url: str
    kafka: str
    topic_prefix: str
    process: subprocess.Popen[bytes]
    token: str  # an admin key of tenant "demo"


def _wait_serving(addr: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"api exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with grpc.insecure_channel(addr) as ch:
                reply = health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"api not serving:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def api(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    namespace = f"api{uuid.uuid4().hex[:10]}"
    root = KazooClient(hosts=infra.zookeeper.connect)
    root.start(timeout=30)
    root.ensure_path(f"/{namespace}")
    root.stop()
    root.close()
    zk = KazooClient(hosts=f"{infra.zookeeper.connect}/{namespace}")
    zk.start(timeout=30)
    for info in TYPES:
        zk.create(zkpaths.task_type(info.name), encode_task_type(info), makepath=True)
    participant = ParticipantInfo(name="p1", group="default", capacity=8, task_types=TYPES)
    zk.create(zkpaths.participant("default", "p1"), participant.encode(), makepath=True)
    database_url = infra.postgres.create_database(namespace)
    addr = f"127.0.0.1:{free_port()}"
    internal_addr = f"127.0.0.1:{free_port()}"
    pki_dir = tmp_path_factory.mktemp("pki")
    env = {
        **pki.tls_env(pki.issue(pki_dir, Identity("api", "api"))),
        **os.environ,
        "HELICASE_ZK": f"{infra.zookeeper.connect}/{namespace}",
        "HELICASE_KAFKA": infra.kafka.bootstrap,
        "HELICASE_DATABASE_URL": database_url,
        "HELICASE_API_ADDR": addr,
        "HELICASE_API_INTERNAL_ADDR": internal_addr,
        "HELICASE_WEB_ADDR": f"127.0.0.1:{free_port()}",  # not the default 8080 of `make up`
        "HELICASE_TOPIC_PREFIX": f"{namespace}.",
        "HELICASE_MAX_TASKS": "50",
        # The tests make bursts of up to 21 creates (20 units each) as one tenant with raw stubs,
        # which do not wait out RESOURCE_EXHAUSTED; fair use itself: bounds/test_fairuse.py.
        "HELICASE_TENANT_BURST": "2000",
        "HELICASE_ADMIN_TOKEN": secrets.token_urlsafe(32),
    }
    log = tmp_path_factory.mktemp("api") / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "helicase.api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_serving(addr, process, log)
        token = issue_key(addr, env["HELICASE_ADMIN_TOKEN"], "demo")
        sink = pki.issue(pki_dir, Identity("sink", "sink"))
        yield Api(
            addr, internal_addr, sink, database_url, infra.kafka.bootstrap, f"{namespace}.",
            process, token,
        )  # fmt: skip
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        zk.stop()
        zk.close()


@pytest.fixture
async def channel(api: Api) -> AsyncIterator[grpc.aio.Channel]:
    async with wire.channel(api.addr, token=api.token) as ch:
        yield ch


@pytest.fixture
async def recorder(api: Api) -> AsyncIterator[event_pb2_grpc.EventServiceStub]:
    """RecordEvents on the api's internal listener, as the sink."""
    async with tls.channel(api.internal_addr, api.sink, "api") as ch:
        yield event_pb2_grpc.EventServiceStub(ch)


def rows(api: Api) -> dict[str, int]:
    with psycopg.connect(api.database_url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def create_request(
    request_id: str = "", **workflow: Any
) -> workflow_service_pb2.CreateWorkflowRequest:
    body = {
        "requestId": request_id,
        "workflow": {"displayName": "t", "tasks": [{"id": "a", "type": "noop"},
                     {"id": "b", "type": "sleep", "params": {"seconds": 0}, "dependsOn": ["a"]}],
                     **workflow},
    }  # fmt: skip
    return json_format.ParseDict(body, workflow_service_pb2.CreateWorkflowRequest())


async def test_create_stores_workflow_tasks_event_and_launch_command(
    api: Api, channel: grpc.aio.Channel
) -> None:
    before = rows(api)
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    created = (await stub.CreateWorkflow(create_request())).workflow
    assert created.state == WS.WORKFLOW_STATE_PENDING
    assert [t.state for t in created.tasks] == [TS.TASK_STATE_PENDING] * 2
    assert created.tasks[1].instance_group == "default"
    after = rows(api)
    assert {t: after[t] - before[t] for t in TABLES} == {
        "workflows": 1, "tasks": 2, "task_attempts": 0, "events": 1, "outbox": 1,
    }  # fmt: skip


async def test_repeated_request_id_returns_the_first_workflow_even_concurrently(
    api: Api, channel: grpc.aio.Channel
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    first = (await stub.CreateWorkflow(create_request("req-1"))).workflow
    before = rows(api)
    again = await asyncio.gather(*(stub.CreateWorkflow(create_request("req-1")) for _ in range(10)))
    assert {r.workflow.id for r in again} == {first.id}
    assert rows(api) == before
    racing = await asyncio.gather(
        *(stub.CreateWorkflow(create_request("req-2")) for _ in range(10))
    )
    assert len({r.workflow.id for r in racing}) == 1
    assert rows(api)["workflows"] == before["workflows"] + 1


async def test_bad_request_is_refused_with_every_violation_and_stores_nothing(
    api: Api, channel: grpc.aio.Channel
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    before = rows(api)
    bad = create_request(
        tasks=[
            {"id": "a", "type": "teleport", "dependsOn": ["a"]},
            {"id": "b", "type": "sleep", "params": {"seconds": "x"}},
        ]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateWorkflow(bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(v.field for v in field_violations(caught.value)) == [
        "workflow.tasks[0].depends_on[0]",
        "workflow.tasks[0].type",
        "workflow.tasks[1].params.seconds",
    ]
    too_many = create_request(tasks=[{"id": f"t{i}", "type": "noop"} for i in range(51)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateWorkflow(too_many)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rows(api) == before


async def test_unknown_or_malformed_id_is_not_found(channel: grpc.aio.Channel) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    for ident in (str(uuid.uuid4()), "not-a-uuid", ""):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetWorkflow(workflow_service_pb2.GetWorkflowRequest(id=ident))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CancelWorkflow(workflow_service_pb2.CancelWorkflowRequest(id=ident))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def task_events(workflow_id: str) -> list[event_pb2.Event]:
    def task(task_id: str, attempt: int, state: int, **kw: Any) -> event_pb2.Event:
        return events.task_event(
            workflow_id=workflow_id, task_id=task_id, attempt=attempt, placement=1, state=state,
            source="test", **kw,
        )  # fmt: skip

    return [
        events.workflow_event(workflow_id=workflow_id, state=WS.WORKFLOW_STATE_RUNNING, source="t"),
        task("a", 1, TS.TASK_STATE_RUNNING, participant="p1"),
        task("a", 1, TS.TASK_STATE_FAILED, participant="p1", message="boom"),
        task("a", 2, TS.TASK_STATE_COMPLETED, participant="p2"),
        task("a", 2, TS.TASK_STATE_RUNNING, participant="p2"),
        task("b", 1, TS.TASK_STATE_ASSIGNED, participant="p1"),
    ]


async def test_record_events_is_idempotent_and_folds_projections(
    api: Api, channel: grpc.aio.Channel, recorder: event_pb2_grpc.EventServiceStub
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    created = (await stub.CreateWorkflow(create_request())).workflow
    batch = task_events(created.id)
    ghost = events.workflow_event(
        workflow_id=str(uuid.uuid4()), state=WS.WORKFLOW_STATE_RUNNING, source="t"
    )
    first = await recorder.RecordEvents(event_pb2.RecordEventsRequest(events=[*batch, ghost]))
    assert (first.stored_count, first.duplicate_count) == (len(batch) + 1, 0)
    second = await recorder.RecordEvents(event_pb2.RecordEventsRequest(events=batch[::-1]))
    assert (second.stored_count, second.duplicate_count) == (0, len(batch))
    got = (await stub.GetWorkflow(workflow_service_pb2.GetWorkflowRequest(id=created.id))).workflow
    assert got.state == WS.WORKFLOW_STATE_RUNNING
    assert got.HasField("start_time")
    a, b = got.tasks
    assert (a.state, a.attempt, a.participant) == (TS.TASK_STATE_COMPLETED, 2, "p2")
    assert [(x.attempt, x.state) for x in a.attempts] == [
        (1, TS.TASK_STATE_FAILED), (2, TS.TASK_STATE_COMPLETED),
    ]  # fmt: skip
    assert a.attempts[0].message == "boom"
    assert (b.state, b.participant) == (TS.TASK_STATE_ASSIGNED, "p1")
    assert dict(got.task_counts) == {"TASK_STATE_COMPLETED": 1, "TASK_STATE_ASSIGNED": 1}


async def test_malformed_event_is_invalid_argument_naming_it(
    recorder: event_pb2_grpc.EventServiceStub,
) -> None:
    good = events.workflow_event(
        workflow_id=str(uuid.uuid4()), state=WS.WORKFLOW_STATE_RUNNING, source="t"
    )
    bad = event_pb2.Event(event_id="x", workflow_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recorder.RecordEvents(event_pb2.RecordEventsRequest(events=[good, bad]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(caught.value)] == ["events[1].payload"]


async def test_cancel_rules(
    api: Api, channel: grpc.aio.Channel, recorder: event_pb2_grpc.EventServiceStub
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    created = (await stub.CreateWorkflow(create_request())).workflow
    before = rows(api)
    cancel = workflow_service_pb2.CancelWorkflowRequest(id=created.id, reason="user")
    canceling = (await stub.CancelWorkflow(cancel)).workflow
    assert canceling.state == WS.WORKFLOW_STATE_CANCELING
    after = rows(api)
    assert (after["events"] - before["events"], after["outbox"] - before["outbox"]) == (1, 1)
    assert (await stub.CancelWorkflow(cancel)).workflow.state == WS.WORKFLOW_STATE_CANCELING
    assert rows(api) == after
    done = (await stub.CreateWorkflow(create_request())).workflow
    completed = events.workflow_event(
        workflow_id=done.id, state=WS.WORKFLOW_STATE_COMPLETED, source="t"
    )
    await recorder.RecordEvents(event_pb2.RecordEventsRequest(events=[completed]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CancelWorkflow(workflow_service_pb2.CancelWorkflowRequest(id=done.id))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_watch_streams_changes_and_ends_after_the_terminal_state(
    channel: grpc.aio.Channel, recorder: event_pb2_grpc.EventServiceStub
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    created = (await stub.CreateWorkflow(create_request())).workflow
    stream = stub.WatchWorkflow(workflow_service_pb2.WatchWorkflowRequest(id=created.id))
    seen: list[int] = []

    async def read() -> None:
        async for reply in stream:
            seen.append(reply.workflow.state)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    for state in (WS.WORKFLOW_STATE_RUNNING, WS.WORKFLOW_STATE_COMPLETED):
        event = events.workflow_event(workflow_id=created.id, state=state, source="t")
        await recorder.RecordEvents(event_pb2.RecordEventsRequest(events=[event]))
        await asyncio.sleep(0.3)
    await asyncio.wait_for(reader, timeout=10)
    assert seen[0] == WS.WORKFLOW_STATE_PENDING
    assert seen[-1] == WS.WORKFLOW_STATE_COMPLETED


async def test_list_filters_by_labels_and_states_and_pages_newest_first(
    channel: grpc.aio.Channel,
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    team = uuid.uuid4().hex[:8]
    made = [
        (await stub.CreateWorkflow(create_request(labels={"team": team, "n": str(i)}))).workflow.id
        for i in range(5)
    ]
    listed: list[str] = []
    token = ""
    while True:
        page = await stub.ListWorkflows(
            workflow_service_pb2.ListWorkflowsRequest(
                page_size=2, page_token=token, labels={"team": team}
            )
        )
        assert all(
            len(w.tasks) == 0 and w.task_counts["TASK_STATE_PENDING"] == 2 for w in page.workflows
        )
        listed += [w.id for w in page.workflows]
        token = page.next_page_token
        if not token:
            break
    assert listed == made[::-1]
    only = await stub.ListWorkflows(
        workflow_service_pb2.ListWorkflowsRequest(labels={"team": team, "n": "3"})
    )
    assert [w.id for w in only.workflows] == [made[3]]
    none = await stub.ListWorkflows(
        workflow_service_pb2.ListWorkflowsRequest(
            labels={"team": team}, states=[WS.WORKFLOW_STATE_COMPLETED]
        )
    )
    assert len(none.workflows) == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListWorkflows(workflow_service_pb2.ListWorkflowsRequest(page_token="junk"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_task_types_come_from_the_zookeeper_registry(channel: grpc.aio.Channel) -> None:
    stub = task_type_pb2_grpc.TaskTypeServiceStub(channel)
    listed = await stub.ListTaskTypes(task_type_pb2.ListTaskTypesRequest())
    assert [(t.name, list(t.instance_groups), t.participant_count) for t in listed.task_types] == [
        ("noop", ["default"], 1), ("sleep", ["default"], 1),
    ]  # fmt: skip
    sleep = (await stub.GetTaskType(task_type_pb2.GetTaskTypeRequest(name="sleep"))).task_type
    assert sleep.params_schema["required"][0] == "seconds"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTaskType(task_type_pb2.GetTaskTypeRequest(name="ghost"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_relay_publishes_the_launch_command_to_kafka(
    api: Api, channel: grpc.aio.Channel
) -> None:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    created = (await stub.CreateWorkflow(create_request())).workflow
    consumer = Consumer({
        "bootstrap.servers": api.kafka, "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([topics.topic(api.topic_prefix, topics.COMMANDS)])
    found: command_pb2.Command | None = None
    deadline = time.monotonic() + 30
    try:
        while found is None and time.monotonic() < deadline:
            message = await asyncio.to_thread(consumer.poll, 0.5)
            if message is None or message.error():
                continue
            command = command_pb2.Command.FromString(message.value())  # type: ignore[arg-type]
            if command.workflow_id == created.id and command.HasField("launch"):
                assert message.key() == created.id.encode()
                found = command
    finally:
        consumer.close()
    assert found is not None, "launch command not published"
    launched = found.launch.workflow
    assert launched.id == created.id
    assert [t.id for t in launched.tasks] == ["a", "b"]
    assert launched.state == WS.WORKFLOW_STATE_UNSPECIFIED
    with psycopg.connect(api.database_url) as conn:
        pending = conn.execute("select count(*) from outbox where published_at is null").fetchone()
    assert pending == (0,)


def test_two_apis_migrating_one_database_together_both_succeed(infra: Any) -> None:
    # Separate processes, as two apis are (alembic's command API is not thread-safe).
    url = infra.postgres.create_database(f"mig{uuid.uuid4().hex[:10]}")
    script = (
        "import sys; from helicase.api import migrations; from helicase.api.config import "
        "sqlalchemy_url; migrations.upgrade(sqlalchemy_url(sys.argv[1]))"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, url]) for _ in range(3)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0, 0]
    with psycopg.connect(url) as conn:
        versions = conn.execute("select version_num from alembic_version").fetchall()
        assert versions == [(migrations.head(),)]
        assert conn.execute("select count(*) from workflows").fetchone() == (0,)

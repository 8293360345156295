"""A workflow travels the whole path — api, outbox, Kafka, scheduler, controller, participants,
Kafka, sink, api — and its outcome is read back from PostgreSQL."""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest

from helicase.client import HelicaseClient
from helicase.common.states import TS, WS
from helicase.internal.v1 import event_pb2
from helicase.v1 import workflow_pb2, workflow_service_pb2
from tests.integration.helpers import (
    gather_limited,
    request,
    run_to_end,
    state,
    task_states,
)


def chain(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i}", "type": "noop", **({"dependsOn": [f"c{i - 1}"]} if i else {})}
        for i in range(n)
    ]


def diamond() -> list[dict[str, Any]]:
    return [
        {"id": "top", "type": "noop"},
        {"id": "left", "type": "sleep", "dependsOn": ["top"], "params": {"seconds": 0.05}},
        {"id": "right", "type": "shell", "dependsOn": ["top"], "params": {"command": "true"}},
        {"id": "bottom", "type": "noop", "dependsOn": ["left", "right"]},
    ]


def fan(width: int) -> list[dict[str, Any]]:
    leaves = [{"id": f"f{i}", "type": "noop", "dependsOn": ["root"]} for i in range(width)]
    join = {"id": "join", "type": "noop", "dependsOn": [f"f{i}" for i in range(width)]}
    return [{"id": "root", "type": "noop"}, *leaves, join]


def flaky(token: str) -> list[dict[str, Any]]:
    marker = f"/tmp/helicase-test-{token}"
    command = f"if [ -e {marker} ]; then rm -f {marker}; else touch {marker}; exit 1; fi"
    return [
        {"id": "flaky", "type": "shell", "params": {"command": command},
         "retry": {"maxAttempts": 3, "initialBackoff": "0.05s"}},
        {"id": "after", "type": "noop", "dependsOn": ["flaky"]},
    ]  # fmt: skip


def fatal() -> list[dict[str, Any]]:
    return [
        {"id": "bad", "type": "shell", "params": {"command": "exit 3", "fatal_exit_codes": [3]},
         "retry": {"maxAttempts": 5, "initialBackoff": "0.05s"}},
        {"id": "blocked", "type": "noop", "dependsOn": ["bad"]},
    ]  # fmt: skip


def always_failing() -> list[dict[str, Any]]:
    return [
        {"id": "fails", "type": "shell", "params": {"command": "exit 1"},
         "retry": {"maxAttempts": 2, "initialBackoff": "0.05s"}},
    ]  # fmt: skip


def stored_events(database_url: str, workflow_ids: list[str]) -> list[event_pb2.Event]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select payload from events where workflow_id::text = any(%s)", (workflow_ids,)
        ).fetchall()
    return [event_pb2.Event.FromString(bytes(row[0])) for row in rows]


async def test_design_example_runs_and_reads_back_from_postgres(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(
            client,
            [
                {"id": "a", "type": "noop"},
                {
                    "id": "b",
                    "type": "shell",
                    "instanceGroup": "default",
                    "dependsOn": ["a"],
                    "params": {"command": "exit 3", "fatal_exit_codes": [3]},
                    "retry": {"maxAttempts": 3, "initialBackoff": "0.2s"},
                    "timeout": "30s",
                },
            ],
            labels={"team": "chem"},
        )
    assert state(done) == "FAILED"
    assert task_states(done) == {"a": "COMPLETED", "b": "FATAL_FAILED"}
    b = done.tasks[1]
    assert b.attempt == 1 and b.participant and "3" in b.message
    assert done.tasks[0].participant in suite.participant_names
    assert done.create_time.seconds and done.start_time.seconds and done.end_time.seconds


async def test_a_retryable_failure_is_retried_until_it_succeeds(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, flaky(uuid.uuid4().hex))
    assert state(done) == "COMPLETED", done
    flaky_task = done.tasks[0]
    assert flaky_task.attempt == 2
    assert [TS.Name(a.state) for a in flaky_task.attempts] == [
        "TASK_STATE_FAILED",
        "TASK_STATE_COMPLETED",
    ]


async def test_retries_stop_at_max_attempts(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, always_failing())
    assert state(done) == "FAILED"
    assert done.tasks[0].attempt == 2 and task_states(done) == {"fails": "FAILED"}


async def test_create_is_idempotent_on_request_id(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        first = request([{"id": "a", "type": "noop"}])
        one = await client.create(first)
        again = await client.create(first)
    assert one.id == again.id


async def test_cancel_stops_a_running_workflow_and_is_idempotent(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        created = await client.create(
            request(
                [
                    {"id": "long", "type": "sleep", "params": {"seconds": 60}},
                    {"id": "later", "type": "noop", "dependsOn": ["long"]},
                ]
            )
        )
        async for update in client.watch(created.id):
            if update.tasks[0].state == TS.TASK_STATE_RUNNING:
                break
        canceling = await client.cancel(created.id, reason="test")
        assert canceling.state in (WS.WORKFLOW_STATE_CANCELING, WS.WORKFLOW_STATE_CANCELED)
        done = await client.wait(created.id, within=30)
        assert state(done) == "CANCELED"
        assert task_states(done) == {"long": "CANCELED", "later": "CANCELED"}
        assert (await client.cancel(created.id)).state == WS.WORKFLOW_STATE_CANCELED


async def test_watch_streams_updates_until_terminal(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        created = await client.create(request(chain(3)))
        updates = [w async for w in client.watch(created.id)]
    assert updates[-1].state == WS.WORKFLOW_STATE_COMPLETED
    assert len(updates) >= 2
    assert all(u.id == created.id for u in updates)


async def test_list_filters_by_label_and_state_with_paging(suite: Any) -> None:
    tag = uuid.uuid4().hex[:12]
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        ids = [
            (await run_to_end(client, [{"id": "a", "type": "noop"}], labels={"run": tag})).id
            for _ in range(5)
        ]
        seen: list[str] = []
        token = ""
        while True:
            page = await client.list_workflows(
                workflow_service_pb2.ListWorkflowsRequest(
                    page_size=2,
                    page_token=token,
                    labels={"run": tag},
                    states=[WS.WORKFLOW_STATE_COMPLETED],
                )
            )
            assert len(page.workflows) <= 2
            seen += [w.id for w in page.workflows]
            token = page.next_page_token
            if not token:
                break
        none = await client.list_workflows(
            workflow_service_pb2.ListWorkflowsRequest(
                labels={"run": tag}, states=[WS.WORKFLOW_STATE_FAILED]
            )
        )
    assert seen == list(reversed(ids))
    assert list(none.workflows) == []


@pytest.mark.timeout(600)
async def test_hundred_workflows_of_assorted_shapes_across_two_participants(suite: Any) -> None:
    rng = random.Random(7)
    shapes: list[tuple[str, list[dict[str, Any]], str]] = []
    for i in range(100):
        kind = ["chain", "diamond", "fan", "single", "flaky", "fatal", "failing"][i % 7]
        tasks = {
            "chain": lambda: chain(rng.randint(2, 6)),
            "diamond": diamond,
            "fan": lambda: fan(rng.randint(3, 12)),
            "single": lambda: [{"id": "only", "type": "noop"}],
            "flaky": lambda: flaky(uuid.uuid4().hex),
            "fatal": fatal,
            "failing": always_failing,
        }[kind]()
        expected = {"fatal": "FAILED", "failing": "FAILED"}.get(kind, "COMPLETED")
        shapes.append((kind, tasks, expected))

    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        created = await gather_limited(
            [client.create(request(tasks, labels={"shape": kind})) for kind, tasks, _ in shapes]
        )
        finals: list[workflow_pb2.Workflow] = await gather_limited(
            [client.wait(w.id, within=300) for w in created]
        )

    participants: set[str] = set()
    for (kind, tasks, expected), final in zip(shapes, finals, strict=True):
        assert state(final) == expected, (kind, final)
        assert len(final.tasks) == len(tasks)
        states = task_states(final)
        if expected == "COMPLETED":
            assert set(states.values()) == {"COMPLETED"}, (kind, states)
        elif kind == "fatal":
            assert states == {"bad": "FATAL_FAILED", "blocked": "SKIPPED"}
        participants |= {t.participant for t in final.tasks if t.participant}
    assert participants == set(suite.participant_names)

    # PostgreSQL holds every expected event exactly once.
    stored = stored_events(suite.database_url, [w.id for w in finals])
    ids = Counter(e.event_id for e in stored)
    assert max(ids.values()) == 1
    keyed = {
        (e.workflow_id, e.task_event.task_id, e.task_event.attempt, e.task_event.state)
        for e in stored
        if e.HasField("task_event")
    }
    # A task that ends within the participant's running delay is never reported RUNNING: its
    # terminal event carries its start.
    started = {
        (e.workflow_id, e.task_event.task_id, e.task_event.attempt)
        for e in stored
        if e.HasField("task_event")
        and (e.task_event.state == TS.TASK_STATE_RUNNING or e.task_event.HasField("start_time"))
    }
    workflow_states = {
        (e.workflow_id, e.workflow_event.state) for e in stored if e.HasField("workflow_event")
    }
    for final in finals:
        assert (final.id, WS.WORKFLOW_STATE_PENDING) in workflow_states
        assert (final.id, WS.WORKFLOW_STATE_RUNNING) in workflow_states
        assert (final.id, final.state) in workflow_states
        for task in final.tasks:
            if task.state == TS.TASK_STATE_SKIPPED:
                continue
            for attempt in task.attempts:
                assert (final.id, task.id, attempt.attempt) in started
                assert (final.id, task.id, attempt.attempt, attempt.state) in keyed
                assert attempt.HasField("start_time") and attempt.HasField("end_time")


async def test_a_workflow_of_more_than_a_megabyte_runs(suite: Any) -> None:
    # Kafka's default message limit is 1 MB; a launch command carries the whole definition
    # (incompressible params here, so lz4 does not rescue it).
    blob = os.urandom(30_000).hex()  # 60 KB of params per task, 20 tasks: about 1.2 MB
    command = f"true {blob}"
    tasks = [{"id": f"t{i}", "type": "shell", "params": {"command": command}} for i in range(20)]
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=60) as client:
        done = await run_to_end(client, tasks, within=120)
    assert state(done) == "COMPLETED"

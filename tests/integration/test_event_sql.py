"""RecordEvents' SQL (helicase.api.events.sql, batches as one JSON parameter) through the api's
EventStore against the harness's real PostgreSQL: exact times and payloads, SQL NULL outputs,
unicode, empty and set participant positions, duplicates inside one batch, non-canonical
workflow ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from helicase.api.auth.principal import Principal, Role, acting
from helicase.api.config import sqlalchemy_url
from helicase.api.events.store import EventStore
from helicase.api.workflows.store import WorkflowStore
from helicase.common import events
from helicase.common.states import TS, WS
from helicase.internal.v1 import event_pb2
from helicase.v1 import workflow_pb2
from tests.integration.helpers import migrated_database


@pytest.fixture(scope="module")
def database_url(infra: Any) -> str:
    return migrated_database(infra, "eventsql")


@dataclass(frozen=True)
class Stores:
    workflows: WorkflowStore
    events: EventStore


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Stores]:
    engine = create_async_engine(sqlalchemy_url(database_url))
    try:
        yield Stores(WorkflowStore(engine), EventStore(engine))
    finally:
        await engine.dispose()


async def create(store: Stores, *task_ids: str) -> str:
    definition = workflow_pb2.Workflow(
        id=str(uuid.uuid4()),
        display_name="t",
        tasks=[workflow_pb2.Task(id=t, type="noop", instance_group="default") for t in task_ids],
    )
    with acting(Principal(tenant="demo", subject="test", role=Role.ADMIN)):
        created, _ = await store.workflows.create_workflow("", definition)
    return created.id


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def task(workflow_id: str, task_id: str, attempt: int, state: int, **kw: Any) -> event_pb2.Event:
    return events.task_event(
        workflow_id=workflow_id, task_id=task_id, attempt=attempt, placement=1, state=state,
        source="test", **kw,
    )  # fmt: skip


async def test_rows_match_the_events_exactly(store: Stores, database_url: str) -> None:
    workflow_id = await create(store, "a", "b", "c")
    at = timestamp_pb2.Timestamp(seconds=1_764_075_140, nanos=123_456_789)
    outputs = struct_pb2.Struct()
    outputs.update({"answer": 42, "text": "é ✓ 😀", "nested": {"list": [1, "x", None]}})
    # Upper case: accepted by the api (uuid.UUID parses it), stored and keyed canonically.
    shouted = workflow_id.upper()
    assigned = task(shouted, "a", 1, TS.TASK_STATE_ASSIGNED, participant="p1", at=at)
    running = task(workflow_id, "a", 1, TS.TASK_STATE_RUNNING, participant="p1", at=at)
    done = task(
        workflow_id, "a", 1, TS.TASK_STATE_COMPLETED, participant="p1", outputs=outputs,
        message="fini: ünïcödé 😀 \"quoted\" \\ back\nslash", at=at,
    )  # fmt: skip
    started = events.workflow_event(
        workflow_id=workflow_id, state=WS.WORKFLOW_STATE_RUNNING, source="test", at=at
    )
    pending_b = task(workflow_id, "b", 0, TS.TASK_STATE_PENDING, message="waits")
    batch = [assigned, running, done, running, done, started, pending_b, assigned]
    stored, changed = await store.events.record_events(batch)
    assert stored == 5
    assert changed == {workflow_id, shouted}

    rows = query(
        database_url,
        "select event_id, workflow_id, time, source, payload from events"
        " where workflow_id = %s and source = 'test' order by event_id",
        uuid.UUID(workflow_id),
    )
    expected = sorted([assigned, running, done, started, pending_b], key=lambda e: e.event_id)
    assert [r[0] for r in rows] == [e.event_id for e in expected]
    for row, event in zip(rows, expected, strict=True):
        assert row[1] == uuid.UUID(workflow_id)
        assert row[2] == event.time.ToDatetime(tzinfo=UTC)
        assert row[3] == "test"
        assert event_pb2.Event.FromString(row[4]) == event

    tasks = query(
        database_url,
        "select task_id, state, attempt, participant, participant_pos, message, outputs,"
        " outputs is null from tasks where workflow_id = %s order by task_id",
        uuid.UUID(workflow_id),
    )
    a, b, _ = tasks
    assert a[:4] == ("a", TS.TASK_STATE_COMPLETED, 1, "p1")
    assert a[4] and all(isinstance(p, int) for p in a[4])
    assert a[5] == 'fini: ünïcödé 😀 "quoted" \\ back\nslash'
    assert a[6] == {"answer": 42, "text": "é ✓ 😀", "nested": {"list": [1, "x", None]}}
    assert b[:6] == ("b", TS.TASK_STATE_PENDING, 0, "", [], "waits")
    assert b[7] is True  # no outputs: SQL NULL, not a JSON null

    attempts = query(
        database_url,
        "select task_id, attempt, state, participant, participant_pos, message, start_time,"
        " end_time from task_attempts where workflow_id = %s",
        uuid.UUID(workflow_id),
    )
    assert len(attempts) == 1
    got = attempts[0]
    assert got[:4] == ("a", 1, TS.TASK_STATE_COMPLETED, "p1")
    assert got[4] == a[4]
    assert got[6] == got[7] == at.ToDatetime(tzinfo=UTC)

    workflow = query(
        database_url,
        "select state, start_time from workflows where id = %s",
        uuid.UUID(workflow_id),
    )
    assert workflow == [(WS.WORKFLOW_STATE_RUNNING, at.ToDatetime(tzinfo=UTC))]

    again, changed = await store.events.record_events(batch[::-1])
    assert (again, changed) == (0, set())
    failed = task(workflow_id, "c", 1, TS.TASK_STATE_FAILED, participant="p2", message="")
    assert (await store.events.record_events([failed]))[0] == 1
    last = query(
        database_url,
        "select a.state, a.participant, a.start_time, a.end_time, t.outputs is null"
        " from task_attempts a join tasks t using (workflow_id, task_id)"
        " where a.workflow_id = %s and a.task_id = 'c'",
        uuid.UUID(workflow_id),
    )
    ended = failed.time.ToDatetime(tzinfo=UTC)
    assert last == [(TS.TASK_STATE_FAILED, "p2", None, ended, True)]


async def test_unknown_workflows_and_tasks_store_the_event_and_fold_nothing(
    store: Stores, database_url: str
) -> None:
    workflow_id = await create(store, "a")
    ghost = events.workflow_event(
        workflow_id=str(uuid.uuid4()), state=WS.WORKFLOW_STATE_RUNNING, source="test"
    )
    stray = task(workflow_id, "zz", 1, TS.TASK_STATE_RUNNING, participant="p1")
    stored, changed = await store.events.record_events([ghost, stray])
    assert (stored, changed) == (2, {workflow_id})
    assert query(
        database_url, "select count(*) from task_attempts where workflow_id = %s",
        uuid.UUID(workflow_id),
    ) == [(0,)]  # fmt: skip

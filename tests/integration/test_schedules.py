"""Recurring workflows on the real suite: ScheduleService stores schedules in PostgreSQL, the
scheduler fires each cron time once through CreateWorkflow, and bad schedules are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import json_format

from helicase.client import HelicaseClient
from helicase.common import cron
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from helicase.v1 import schedule_pb2, schedule_pb2_grpc, workflow_pb2, workflow_service_pb2
from helicase.wire import channel
from tests.integration.helpers import state

NOOP = {"displayName": "nightly", "tasks": [{"id": "a", "type": "noop"}]}


def schedule(cron_expression: str = "* * * * *", **fields: Any) -> schedule_pb2.Schedule:
    doc = {"displayName": "every minute", "cron": cron_expression, "workflow": NOOP, **fields}
    return json_format.ParseDict(doc, schedule_pb2.Schedule())


@pytest.fixture
async def schedules(suite: RunningSuite) -> AsyncIterator[schedule_pb2_grpc.ScheduleServiceStub]:
    async with channel(suite.api_addr, token=suite.token) as ch:
        yield schedule_pb2_grpc.ScheduleServiceStub(ch)


def backdate(suite: RunningSuite, schedule_id: str, minutes: int) -> None:
    """As if the schedule had been active for `minutes` already (its times since then missed)."""
    with psycopg.connect(suite.database_url) as conn:
        conn.execute(
            "UPDATE schedules SET active_since = active_since - make_interval(mins => %s)"
            " WHERE id = %s",
            (minutes, schedule_id),
        )


async def runs_of(client: HelicaseClient, schedule_id: str) -> list[workflow_pb2.Workflow]:
    request = workflow_service_pb2.ListWorkflowsRequest(labels={cron.SCHEDULE_LABEL: schedule_id})
    return list((await client.list_workflows(request)).workflows)


async def first_runs(client: HelicaseClient, schedule_id: str) -> list[workflow_pb2.Workflow]:
    """The schedule's runs once there is one (about 20 s at most), else none."""
    for _ in range(100):
        runs = await runs_of(client, schedule_id)
        if runs:
            return runs
        await asyncio.sleep(0.2)
    return []


async def test_a_schedule_fires_each_cron_time_once(
    suite: RunningSuite, schedules: schedule_pb2_grpc.ScheduleServiceStub
) -> None:
    created = (
        await schedules.CreateSchedule(schedule_pb2.CreateScheduleRequest(schedule=schedule()))
    ).schedule
    assert created.id and created.HasField("next_fire_time")
    backdate(suite, created.id, minutes=3)  # three missed times: only the latest fires
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        runs = await first_runs(client, created.id)
        assert len(runs) == 1
        done = await client.wait(runs[0].id, within=60)
        assert state(done) == "COMPLETED"
        assert done.display_name == "nightly"
        await asyncio.sleep(3)  # more passes of the firing loop add nothing for that time
        runs = await runs_of(client, created.id)
        fire_times = [w.labels[cron.FIRE_TIME_LABEL] for w in runs]
        assert len(fire_times) == len(set(fire_times))  # a new minute may have begun meanwhile
    got = (await schedules.GetSchedule(schedule_pb2.GetScheduleRequest(id=created.id))).schedule
    assert done.id in [r.workflow_id for r in got.recent_runs]
    paused = await schedules.SetSchedulePaused(
        schedule_pb2.SetSchedulePausedRequest(id=created.id, paused=True)
    )
    assert paused.schedule.paused and not paused.schedule.HasField("next_fire_time")
    await schedules.DeleteSchedule(schedule_pb2.DeleteScheduleRequest(id=created.id))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await schedules.GetSchedule(schedule_pb2.GetScheduleRequest(id=created.id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_paused_schedule_does_not_fire_and_resuming_does_not_make_up_missed_times(
    suite: RunningSuite, schedules: schedule_pb2_grpc.ScheduleServiceStub
) -> None:
    created = (
        await schedules.CreateSchedule(
            schedule_pb2.CreateScheduleRequest(schedule=schedule(paused=True))
        )
    ).schedule
    backdate(suite, created.id, minutes=5)
    await asyncio.sleep(3)
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        assert await runs_of(client, created.id) == []
        resumed = await schedules.SetSchedulePaused(
            schedule_pb2.SetSchedulePausedRequest(id=created.id, paused=False)
        )
        assert resumed.schedule.active_since.ToDatetime() > created.active_since.ToDatetime()
        await asyncio.sleep(3)
        runs = await runs_of(client, created.id)
    # Nothing from before the resume; at most the one minute that may have begun since.
    assert all(
        w.labels[cron.FIRE_TIME_LABEL] >= cron.rfc3339(resumed.schedule.active_since.ToDatetime())
        for w in runs
    )
    await schedules.DeleteSchedule(schedule_pb2.DeleteScheduleRequest(id=created.id))


async def test_bad_schedules_are_refused_with_field_violations_and_nothing_is_stored(
    suite: RunningSuite, schedules: schedule_pb2_grpc.ScheduleServiceStub
) -> None:
    before = await schedules.ListSchedules(schedule_pb2.ListSchedulesRequest())
    bad = schedule("61 * * *", timeZone="Mars/Olympus")
    bad.workflow.tasks[0].type = "no-such-type"
    bad.workflow.labels[cron.SCHEDULE_LABEL] = "mine"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await schedules.CreateSchedule(schedule_pb2.CreateScheduleRequest(schedule=bad))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in field_violations(refused.value)}
    assert {
        "schedule.cron",
        "schedule.time_zone",
        "schedule.workflow.tasks[0].type",
        f"schedule.workflow.labels[{cron.SCHEDULE_LABEL}]",
    } <= fields
    after = await schedules.ListSchedules(schedule_pb2.ListSchedulesRequest())
    assert [s.id for s in after.schedules] == [s.id for s in before.schedules]

"""Schedules that can never fire: refused at create, and one stored anyway (by an older version,
or whose time zone left tzdata) neither stops the others firing nor stops them being listed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest

from helicase.client import HelicaseClient
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from helicase.v1 import schedule_pb2, schedule_pb2_grpc
from helicase.wire import channel
from tests.integration.test_schedules import backdate, first_runs, runs_of, schedule

FEBRUARY_30TH = "0 0 30 2 *"


@pytest.fixture
async def schedules(suite: RunningSuite) -> AsyncIterator[schedule_pb2_grpc.ScheduleServiceStub]:
    async with channel(suite.api_addr, token=suite.token) as ch:
        yield schedule_pb2_grpc.ScheduleServiceStub(ch)


async def test_a_cron_that_never_fires_is_refused_and_nothing_is_stored(
    schedules: schedule_pb2_grpc.ScheduleServiceStub,
) -> None:
    before = await schedules.ListSchedules(schedule_pb2.ListSchedulesRequest(page_size=500))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await schedules.CreateSchedule(
            schedule_pb2.CreateScheduleRequest(schedule=schedule(FEBRUARY_30TH))
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = {v.field: v.description for v in field_violations(refused.value)}
    assert "never fires" in violations["schedule.cron"]
    after = await schedules.ListSchedules(schedule_pb2.ListSchedulesRequest(page_size=500))
    assert [s.id for s in after.schedules] == [s.id for s in before.schedules]


def insert_broken_copy(suite: RunningSuite, of: str, cron_expression: str, zone: str) -> str:
    """A copy of schedule `of`, written straight into PostgreSQL with a cron or time zone that
    can never fire (as an older version, without today's checks, could have stored it)."""
    broken = str(uuid.uuid4())
    with psycopg.connect(suite.database_url) as conn:
        conn.execute(
            "INSERT INTO schedules (id, tenant, display_name, cron, time_zone, workflow, paused,"
            " create_time, active_since)"
            " SELECT %s, tenant, 'broken', %s, %s, workflow, false,"
            " create_time - interval '1 hour', active_since - interval '1 hour'"
            " FROM schedules WHERE id = %s",
            (broken, cron_expression, zone, of),
        )
    return broken


def delete_rows(suite: RunningSuite, ids: list[str]) -> None:
    with psycopg.connect(suite.database_url) as conn:
        conn.execute("DELETE FROM schedules WHERE id = ANY(%s::uuid[])", (ids,))


async def test_a_stored_schedule_that_never_fires_stops_neither_listing_nor_other_firings(
    suite: RunningSuite, schedules: schedule_pb2_grpc.ScheduleServiceStub
) -> None:
    every_minute = schedule_pb2.CreateScheduleRequest(schedule=schedule())
    good = (await schedules.CreateSchedule(every_minute)).schedule
    broken = [
        insert_broken_copy(suite, good.id, FEBRUARY_30TH, ""),
        insert_broken_copy(suite, good.id, "* * * * *", "Gone/From_Tzdata"),
    ]
    try:
        backdate(suite, good.id, minutes=2)  # due at once: the next pass fires it
        listed = await schedules.ListSchedules(schedule_pb2.ListSchedulesRequest(page_size=500))
        by_id = {s.id: s for s in listed.schedules}
        assert good.id in by_id and by_id[good.id].HasField("next_fire_time")
        for broken_id in broken:
            assert by_id[broken_id].problem and not by_id[broken_id].HasField("next_fire_time")
        got = await schedules.GetSchedule(schedule_pb2.GetScheduleRequest(id=broken[0]))
        assert "names no time" in got.schedule.problem
        async with HelicaseClient(suite.api_addr, token=suite.token) as client:
            assert await first_runs(client, good.id), "the good one did not fire"
            for broken_id in broken:
                assert await runs_of(client, broken_id) == []
    finally:
        delete_rows(suite, [*broken, good.id])

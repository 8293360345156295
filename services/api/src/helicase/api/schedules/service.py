"""ScheduleService's handlers: recurring workflows, validated by schedules.validation and stored
by schedules.store; the schedulers fire them (helicase.scheduler.schedules)."""

from __future__ import annotations

from datetime import UTC, datetime

from helicase.api import paging
from helicase.api.convert import id_of
from helicase.api.errors import Context
from helicase.api.schedules.store import ScheduleStore
from helicase.api.schedules.validation import validate_schedule
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.workflows.validation import Limits, SchemaCache
from helicase.v1 import schedule_pb2, schedule_pb2_grpc


class ScheduleService(schedule_pb2_grpc.ScheduleServiceServicer):
    def __init__(self, store: ScheduleStore, task_types: TaskTypeCatalog, max_tasks: int) -> None:
        self._store = store
        self._task_types = task_types
        self._limits = Limits(max_tasks=max_tasks)
        self._schemas = SchemaCache()

    async def CreateSchedule(
        self, request: schedule_pb2.CreateScheduleRequest, context: Context
    ) -> schedule_pb2.CreateScheduleResponse:
        validate_schedule(
            request, self._task_types.schemas(), limits=self._limits, schemas=self._schemas
        )
        row = await self._store.create(request.request_id, request.schedule)
        return schedule_pb2.CreateScheduleResponse(schedule=row.message())

    async def GetSchedule(
        self, request: schedule_pb2.GetScheduleRequest, context: Context
    ) -> schedule_pb2.GetScheduleResponse:
        schedule_id = id_of(request.id, "schedule")
        schedule = (await self._store.get(schedule_id)).message()
        schedule.recent_runs.extend(await self._store.recent_runs(schedule_id))
        return schedule_pb2.GetScheduleResponse(schedule=schedule)

    async def ListSchedules(
        self, request: schedule_pb2.ListSchedulesRequest, context: Context
    ) -> schedule_pb2.ListSchedulesResponse:
        page = paging.page_request(request.page_size, request.page_token)
        rows, token = await self._store.list(page=page)
        now = datetime.now(UTC)
        return schedule_pb2.ListSchedulesResponse(
            schedules=[row.message(now) for row in rows], next_page_token=token
        )

    async def SetSchedulePaused(
        self, request: schedule_pb2.SetSchedulePausedRequest, context: Context
    ) -> schedule_pb2.SetSchedulePausedResponse:
        row = await self._store.set_paused(id_of(request.id, "schedule"), request.paused)
        return schedule_pb2.SetSchedulePausedResponse(schedule=row.message())

    async def DeleteSchedule(
        self, request: schedule_pb2.DeleteScheduleRequest, context: Context
    ) -> schedule_pb2.DeleteScheduleResponse:
        await self._store.delete(id_of(request.id, "schedule"))
        return schedule_pb2.DeleteScheduleResponse()

"""ScheduleService: recurring workflows. Validation here, SQL in schedule_store; the schedulers
fire them (helicase.scheduler.schedules)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import grpc

from helicase.api.convert import parse_id
from helicase.api.handlers import DEFAULT_PAGE, MAX_PAGE, _guard
from helicase.api.registry import TaskTypeRegistry
from helicase.api.schedule_store import ScheduleStore
from helicase.api.validation import (
    MAX_DISPLAY_NAME,
    MAX_REQUEST_ID,
    Limits,
    SchemaCache,
    validate_create,
)
from helicase.common import cron
from helicase.common.errors import FieldViolation, InvalidArgument, NotFound
from helicase.v1 import schedule_pb2, schedule_pb2_grpc, workflow_service_pb2

RESERVED_LABELS = (cron.SCHEDULE_LABEL, cron.FIRE_TIME_LABEL)
_SAMPLE_ID = "00000000-0000-0000-0000-000000000000"


def validate_schedule(
    request: schedule_pb2.CreateScheduleRequest,
    task_types: Mapping[str, Mapping[str, Any]],
    *,
    limits: Limits,
    schemas: SchemaCache,
) -> None:
    """Raises InvalidArgument naming every offending field; the template is checked as the
    CreateWorkflow of a firing would be."""
    out: list[FieldViolation] = []
    if len(request.request_id) > MAX_REQUEST_ID:
        out.append(FieldViolation("request_id", f"is longer than {MAX_REQUEST_ID} characters"))
    if not request.HasField("schedule"):
        raise InvalidArgument([FieldViolation("schedule", "is required"), *out])
    schedule = request.schedule
    if len(schedule.display_name) > MAX_DISPLAY_NAME:
        out.append(FieldViolation("schedule.display_name", f"is over {MAX_DISPLAY_NAME} chars"))
    problem = cron.cron_problem(schedule.cron)
    if problem:
        out.append(FieldViolation("schedule.cron", problem))
    problem = cron.zone_problem(schedule.time_zone)
    if problem:
        out.append(FieldViolation("schedule.time_zone", problem))
    if not schedule.HasField("workflow"):
        out.append(FieldViolation("schedule.workflow", "is required"))
    else:
        for key in RESERVED_LABELS:
            if key in schedule.workflow.labels:
                out.append(
                    FieldViolation(f"schedule.workflow.labels[{key}]", "is set by the schedule")
                )
        sample = cron.run_of(schedule.workflow, _SAMPLE_ID, datetime.now(UTC))
        try:
            validate_create(
                workflow_service_pb2.CreateWorkflowRequest(workflow=sample),
                task_types,
                limits=limits,
                schemas=schemas,
            )
        except InvalidArgument as exc:
            out += [FieldViolation(f"schedule.{v.field}", v.description) for v in exc.violations]
    if out:
        raise InvalidArgument(out)


def _schedule_id(raw: str) -> Any:
    parsed = parse_id(raw)
    if parsed is None:
        raise NotFound(f"schedule {raw!r} not found")
    return parsed


class ScheduleService(schedule_pb2_grpc.ScheduleServiceServicer):
    def __init__(self, store: ScheduleStore, registry: TaskTypeRegistry, max_tasks: int) -> None:
        self._store = store
        self._registry = registry
        self._limits = Limits(max_tasks=max_tasks)
        self._schemas = SchemaCache()

    async def CreateSchedule(
        self,
        request: schedule_pb2.CreateScheduleRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> schedule_pb2.CreateScheduleResponse:
        async def body() -> schedule_pb2.CreateScheduleResponse:
            validate_schedule(
                request, self._registry.schemas(), limits=self._limits, schemas=self._schemas
            )
            row = await self._store.create(request.request_id, request.schedule)
            return schedule_pb2.CreateScheduleResponse(schedule=row.message())

        return await _guard(context, body)

    async def GetSchedule(
        self,
        request: schedule_pb2.GetScheduleRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> schedule_pb2.GetScheduleResponse:
        async def body() -> schedule_pb2.GetScheduleResponse:
            schedule_id = _schedule_id(request.id)
            schedule = (await self._store.get(schedule_id)).message()
            schedule.recent_runs.extend(await self._store.recent_runs(schedule_id))
            return schedule_pb2.GetScheduleResponse(schedule=schedule)

        return await _guard(context, body)

    async def ListSchedules(
        self,
        request: schedule_pb2.ListSchedulesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> schedule_pb2.ListSchedulesResponse:
        async def body() -> schedule_pb2.ListSchedulesResponse:
            if request.page_size < 0 or request.page_size > MAX_PAGE:
                raise InvalidArgument([FieldViolation("page_size", f"must be 0..{MAX_PAGE}")])
            try:
                rows, token = await self._store.list(
                    page_size=request.page_size or DEFAULT_PAGE, page_token=request.page_token
                )
            except ValueError as exc:
                violation = FieldViolation("page_token", "is not a token from this API")
                raise InvalidArgument([violation]) from exc
            now = datetime.now(UTC)
            return schedule_pb2.ListSchedulesResponse(
                schedules=[row.message(now) for row in rows], next_page_token=token
            )

        return await _guard(context, body)

    async def SetSchedulePaused(
        self,
        request: schedule_pb2.SetSchedulePausedRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> schedule_pb2.SetSchedulePausedResponse:
        async def body() -> schedule_pb2.SetSchedulePausedResponse:
            row = await self._store.set_paused(_schedule_id(request.id), request.paused)
            return schedule_pb2.SetSchedulePausedResponse(schedule=row.message())

        return await _guard(context, body)

    async def DeleteSchedule(
        self,
        request: schedule_pb2.DeleteScheduleRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> schedule_pb2.DeleteScheduleResponse:
        async def body() -> schedule_pb2.DeleteScheduleResponse:
            await self._store.delete(_schedule_id(request.id))
            return schedule_pb2.DeleteScheduleResponse()

        return await _guard(context, body)

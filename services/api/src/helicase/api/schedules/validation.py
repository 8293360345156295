"""Validation of CreateSchedule: every violation, named by field path; the template is checked as
the CreateWorkflow of a firing would be."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from helicase.api.workflows.validation import Limits, SchemaCache, validate_create
from helicase.common import cron
from helicase.common import limits as bounds
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.common.tenants import reserved_label
from helicase.v1 import schedule_pb2, workflow_service_pb2

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
    out += bounds.too_long("request_id", request.request_id, bounds.REQUEST_ID)
    if not request.HasField("schedule"):
        raise InvalidArgument([FieldViolation("schedule", "is required"), *out])
    schedule = request.schedule
    out += bounds.too_long("schedule.display_name", schedule.display_name, bounds.DISPLAY_NAME)
    too_long = bounds.too_long("schedule.cron", schedule.cron, bounds.CRON)
    problem = None if too_long else cron.cron_problem(schedule.cron)
    if problem:
        out.append(FieldViolation("schedule.cron", problem))
    out += too_long
    too_long = bounds.too_long("schedule.time_zone", schedule.time_zone, bounds.TIME_ZONE)
    problem = None if too_long else cron.zone_problem(schedule.time_zone)
    if problem:
        out.append(FieldViolation("schedule.time_zone", problem))
    out += too_long
    cron_bad = any(v.field == "schedule.cron" for v in out)
    zone_bad = any(v.field == "schedule.time_zone" for v in out)
    if not cron_bad and not zone_bad:
        never = cron.firing_problem(schedule.cron, schedule.time_zone, datetime.now(UTC))
        if never:
            out.append(FieldViolation("schedule.cron", f"never fires: {never}"))
    if not schedule.HasField("workflow"):
        out.append(FieldViolation("schedule.workflow", "is required"))
    else:
        for key in sorted(schedule.workflow.labels):
            if reserved_label(key):
                out.append(
                    FieldViolation(f"schedule.workflow.labels[{key}]", "is reserved for Helicase")
                )
        sample = cron.run_of(schedule.workflow, _SAMPLE_ID, datetime.now(UTC))
        try:
            validate_create(
                workflow_service_pb2.CreateWorkflowRequest(workflow=sample),
                task_types,
                limits=limits,
                schemas=schemas,
                reserved_labels=True,  # the firing's own; the template's are checked above
            )
        except InvalidArgument as exc:
            out += [FieldViolation(f"schedule.{v.field}", v.description) for v in exc.violations]
    if out:
        raise InvalidArgument(out)

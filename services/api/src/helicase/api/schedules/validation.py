"""Validation of CreateSchedule: every violation, named by field path; the template is checked as
the CreateWorkflow of a firing would be."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from helicase.api.workflows.validation import (
    MAX_DISPLAY_NAME,
    MAX_REQUEST_ID,
    Limits,
    SchemaCache,
    validate_create,
)
from helicase.common import cron
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
    if len(request.request_id) > MAX_REQUEST_ID:
        out.append(FieldViolation("request_id", f"is longer than {MAX_REQUEST_ID} characters"))
    if not request.HasField("schedule"):
        raise InvalidArgument([FieldViolation("schedule", "is required"), *out])
    schedule = request.schedule
    if len(schedule.display_name) > MAX_DISPLAY_NAME:
        out.append(FieldViolation("schedule.display_name", f"is over {MAX_DISPLAY_NAME} chars"))
    cron_problem = cron.cron_problem(schedule.cron)
    if cron_problem:
        out.append(FieldViolation("schedule.cron", cron_problem))
    zone_problem = cron.zone_problem(schedule.time_zone)
    if zone_problem:
        out.append(FieldViolation("schedule.time_zone", zone_problem))
    if not cron_problem and not zone_problem:
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

"""Validation of CreateExperiment (pure): every violation, named by field path."""

from __future__ import annotations

import re
from typing import Any

from helicase.common import limits
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import experiment_pb2

RELATIVE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(/[A-Za-z0-9_][A-Za-z0-9_.+=-]*)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256 = re.compile(r"^([0-9a-f]{64})?$")
QUEUE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
GROUP = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62})?$")


def _files(files: Any, field: str, *, required: bool) -> list[FieldViolation]:
    out = []
    if required and not files:
        out.append(FieldViolation(field, "at least one file is required"))
    if len(files) > limits.FILES:
        return [*out, *limits.too_many(field, files, limits.FILES)]
    for i, f in enumerate(files):
        for name in ("storage_path", "name"):
            out += limits.too_long(f"{field}[{i}].{name}", getattr(f, name), limits.EXECUTABLE)
        if not RELATIVE.match(f.storage_path):
            out.append(FieldViolation(f"{field}[{i}].storage_path", "must be a relative path"))
        if not RELATIVE.match(f.name):
            out.append(FieldViolation(f"{field}[{i}].name", "must be a relative path"))
        if not SHA256.match(f.sha256):
            out.append(FieldViolation(f"{field}[{i}].sha256", "must be 64 lowercase hex digits"))
    return out


def _application(app: experiment_pb2.ApplicationSpec, p: str) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    if not app.executable:
        out.append(FieldViolation(f"{p}.executable", "is required"))
    out += limits.too_long(f"{p}.executable", app.executable, limits.EXECUTABLE)
    out += limits.too_many(f"{p}.arguments", app.arguments, limits.ARGUMENTS)
    for i, argument in enumerate(app.arguments[: limits.ARGUMENTS]):
        out += limits.too_long(f"{p}.arguments[{i}]", argument, limits.EXECUTABLE)
    out += limits.too_many(f"{p}.environment", app.environment, limits.ARGUMENTS)
    for name, value in sorted(app.environment.items())[: limits.ARGUMENTS]:
        if len(name) > limits.ENV_NAME or not ENV_NAME.match(name):
            shown = name[: limits.ENV_NAME]
            out.append(
                FieldViolation(
                    f"{p}.environment[{shown}]",
                    f"not a variable name of at most {limits.ENV_NAME} characters",
                )
            )
        out += limits.too_long(
            f"{p}.environment[{name[: limits.ENV_NAME]}]", value, limits.EXECUTABLE
        )
    return out


def validate_cancel(request: experiment_pb2.CancelExperimentRequest) -> None:
    """Raises InvalidArgument when the reason is over its limit (it reaches task events)."""
    out = limits.too_long("reason", request.reason, limits.REASON)
    if out:
        raise InvalidArgument(out)


def validate_experiment(request: experiment_pb2.CreateExperimentRequest) -> None:
    """Raises InvalidArgument naming every offending field (resource ids are checked against
    the stored resources by the caller)."""
    e, p = request.experiment, "experiment"
    out: list[FieldViolation] = []
    out += limits.too_long("request_id", request.request_id, limits.REQUEST_ID)
    out += limits.too_long(f"{p}.display_name", e.display_name, limits.DISPLAY_NAME)
    out += _application(e.application, f"{p}.application")
    out += _files(e.inputs, f"{p}.inputs", required=False)
    out += _files(e.outputs, f"{p}.outputs", required=False)
    for name in ("compute_resource_id", "storage_resource_id", "credential_id"):
        if not getattr(e, name):
            out.append(FieldViolation(f"{p}.{name}", "is required"))
    r = e.resource_request
    for name in ("nodes", "cores", "memory_mb", "walltime_minutes"):
        if getattr(r, name) < 0:
            out.append(FieldViolation(f"{p}.resource_request.{name}", "must be >= 0"))
    if not QUEUE.match(r.queue):
        out.append(FieldViolation(f"{p}.resource_request.queue", "must be a partition name"))
    if e.instance_group and not GROUP.match(e.instance_group):
        out.append(FieldViolation(f"{p}.instance_group", "is not a valid instance group"))
    if out:
        raise InvalidArgument(out)

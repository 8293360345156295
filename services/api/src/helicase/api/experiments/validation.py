"""Validation of CreateExperiment (pure): every violation, named by field path."""

from __future__ import annotations

import re
from typing import Any

from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import experiment_pb2

RELATIVE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(/[A-Za-z0-9_][A-Za-z0-9_.+=-]*)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256 = re.compile(r"^([0-9a-f]{64})?$")
QUEUE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
GROUP = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62})?$")
MAX_FILES = 1000


def _files(files: Any, field: str, *, required: bool) -> list[FieldViolation]:
    out = []
    if required and not files:
        out.append(FieldViolation(field, "at least one file is required"))
    if len(files) > MAX_FILES:
        out.append(FieldViolation(field, f"at most {MAX_FILES} files"))
    for i, f in enumerate(files):
        if not RELATIVE.match(f.storage_path):
            out.append(FieldViolation(f"{field}[{i}].storage_path", "must be a relative path"))
        if not RELATIVE.match(f.name):
            out.append(FieldViolation(f"{field}[{i}].name", "must be a relative path"))
        if not SHA256.match(f.sha256):
            out.append(FieldViolation(f"{field}[{i}].sha256", "must be 64 lowercase hex digits"))
    return out


def validate_experiment(request: experiment_pb2.CreateExperimentRequest) -> None:
    """Raises InvalidArgument naming every offending field (resource ids are checked against
    the stored resources by the caller)."""
    e, p = request.experiment, "experiment"
    out: list[FieldViolation] = []
    if len(request.request_id) > 128:
        out.append(FieldViolation("request_id", "at most 128 characters"))
    if len(e.display_name) > 200:
        out.append(FieldViolation(f"{p}.display_name", "at most 200 characters"))
    if not e.application.executable:
        out.append(FieldViolation(f"{p}.application.executable", "is required"))
    for name in e.application.environment:
        if not ENV_NAME.match(name):
            out.append(
                FieldViolation(f"{p}.application.environment[{name}]", "not a variable name")
            )
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

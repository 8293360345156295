"""Validation of ResourceService requests: every violation, named by field path. Pure."""

from __future__ import annotations

import re

from helicase.api.resources.credentials import host_key_problem, public_facts
from helicase.common import limits
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import resource_pb2

HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})$")
USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}$", re.IGNORECASE)
ABSOLUTE = re.compile(r"^/[A-Za-z0-9_./+=-]{0,1023}$")
QUEUE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")


def _endpoint(prefix: str, host: str, port: int, user: str, host_key: str) -> list[FieldViolation]:
    out = []
    if not HOST.match(host):
        out.append(FieldViolation(f"{prefix}.host", "must be a host name or address"))
    if not 0 <= port <= 65535:
        out.append(FieldViolation(f"{prefix}.port", "must be 1..65535 (0 means 22)"))
    if not USER.match(user):
        out.append(FieldViolation(f"{prefix}.login_user", "must be a user name"))
    problem = host_key_problem(host_key) if host_key else "is required (the expected host key)"
    if len(host_key) > limits.PRIVATE_KEY:
        out += limits.too_long(f"{prefix}.host_key", host_key, limits.PRIVATE_KEY)
    elif problem:
        out.append(FieldViolation(f"{prefix}.host_key", problem))
    return out


def _common(request_id: str, prefix: str, display_name: str) -> list[FieldViolation]:
    out = limits.too_long("request_id", request_id, limits.REQUEST_ID)
    out += limits.too_long(f"{prefix}.display_name", display_name, limits.DISPLAY_NAME)
    return out


def _raise(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)


def validate_compute(request: resource_pb2.CreateComputeResourceRequest) -> None:
    r, p = request.compute_resource, "compute_resource"
    out = _common(request.request_id, p, r.display_name)
    out += _endpoint(p, r.host, r.port, r.login_user, r.host_key)
    if r.batch_system == resource_pb2.BATCH_SYSTEM_UNSPECIFIED:
        out.append(FieldViolation(f"{p}.batch_system", "must be BATCH_SYSTEM_SLURM or _FORK"))
    elif r.batch_system not in resource_pb2.BatchSystem.values():
        out.append(FieldViolation(f"{p}.batch_system", "unknown batch system"))
    if not ABSOLUTE.match(r.scratch_root):
        out.append(FieldViolation(f"{p}.scratch_root", "must be an absolute path"))
    if not QUEUE.match(r.default_queue):
        out.append(FieldViolation(f"{p}.default_queue", "must be a partition name"))
    _raise(out)


def validate_storage(request: resource_pb2.CreateStorageResourceRequest) -> None:
    r, p = request.storage_resource, "storage_resource"
    out = _common(request.request_id, p, r.display_name)
    out += _endpoint(p, r.host, r.port, r.login_user, r.host_key)
    if not ABSOLUTE.match(r.root_path):
        out.append(FieldViolation(f"{p}.root_path", "must be an absolute path"))
    _raise(out)


def validate_credential(request: resource_pb2.CreateCredentialRequest) -> None:
    c, p = request.credential, "credential"
    out = _common(request.request_id, p, c.display_name)
    if not c.private_key:
        out.append(FieldViolation(f"{p}.private_key", "is required"))
    elif len(c.private_key) > limits.PRIVATE_KEY:
        out += limits.too_long(f"{p}.private_key", c.private_key, limits.PRIVATE_KEY)
    else:
        try:
            public_facts(c.private_key)
        except ValueError as exc:
            out.append(FieldViolation(f"{p}.private_key", str(exc).splitlines()[0]))
    _raise(out)

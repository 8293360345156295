"""Validation of UpdateTenantLimits requests (pure)."""

from __future__ import annotations

from helicase.api.fairuse.limits import LIMIT_FIELDS
from helicase.common import limits as bounds
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import admin_pb2

TENANT_ID_CHARS = 63


def check_update_limits(request: admin_pb2.UpdateTenantLimitsRequest) -> list[str]:
    """The limit fields to set (update_mask's paths, or all of them); InvalidArgument naming
    each bad field."""
    violations: list[FieldViolation] = []
    tenant_id = request.tenant_limits.tenant_id
    if not tenant_id:
        violations.append(FieldViolation("tenant_limits.tenant_id", "is required"))
    # No tenant id is longer than 63 characters, and a NUL would reach PostgreSQL (found by
    # make fuzz: UNKNOWN).
    violations += bounds.too_long("tenant_limits.tenant_id", tenant_id, TENANT_ID_CHARS)
    paths = list(request.update_mask.paths) or list(LIMIT_FIELDS)
    for i, path in enumerate(paths):
        if path not in LIMIT_FIELDS:
            violations.append(
                FieldViolation(f"update_mask.paths[{i}]", f"{path!r} is not a limit field")
            )
        elif getattr(request.tenant_limits, path) < 0:
            violations.append(
                FieldViolation(f"tenant_limits.{path}", "must be 0 (the default) or more")
            )
    if violations:
        raise InvalidArgument(violations)
    return paths

"""Validation of AdminService requests, and which tenant a caller may act on (pure)."""

from __future__ import annotations

import re
from datetime import timedelta

from helicase.api.auth.principal import Principal
from helicase.common import limits
from helicase.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from helicase.v1 import admin_pb2

TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
MIN_TTL = timedelta(seconds=1)
ROLES = frozenset({admin_pb2.ROLE_VIEWER, admin_pb2.ROLE_SUBMITTER, admin_pb2.ROLE_ADMIN})


def _display_name(value: str, field: str) -> list[FieldViolation]:
    return limits.too_long(field, value, limits.DISPLAY_NAME)


def check_tenant(tenant: admin_pb2.Tenant) -> None:
    violations = _display_name(tenant.display_name, "tenant.display_name")
    if not TENANT_ID.match(tenant.id):
        violations.insert(
            0,
            FieldViolation(
                "tenant.id",
                "must be 1-63 lower-case letters, digits or '-', starting with a letter",
            ),
        )
    if violations:
        raise InvalidArgument(violations)


def check_create_key(request: admin_pb2.CreateApiKeyRequest) -> timedelta | None:
    """The key's time to live (None: until revoked); InvalidArgument naming each bad field."""
    violations = _display_name(request.display_name, "display_name")
    if not request.tenant_id:
        violations.append(FieldViolation("tenant_id", "is required"))
    if request.role not in ROLES:
        violations.append(
            FieldViolation("role", "must be ROLE_VIEWER, ROLE_SUBMITTER or ROLE_ADMIN")
        )
    ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None
    if ttl is not None and ttl < MIN_TTL:
        violations.append(FieldViolation("ttl", "must be at least 1s"))
    if violations:
        raise InvalidArgument(violations)
    return ttl


def tenant_in_reach(principal: Principal, requested: str) -> str:
    """The tenant a call acts on: `requested`, or the caller's own when empty. Only a platform
    admin reaches another tenant; anyone else naming one is PERMISSION_DENIED, whether that
    tenant exists or not (so existence does not leak)."""
    tenant = requested or principal.tenant
    if tenant != principal.tenant and not principal.platform_admin:
        raise PermissionDenied("only a platform admin acts on another tenant")
    return tenant

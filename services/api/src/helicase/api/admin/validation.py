"""Validation of AdminService requests, and which tenant a caller may act on (pure)."""

from __future__ import annotations

import re
from datetime import timedelta

from helicase.api.auth.principal import Principal
from helicase.common import limits
from helicase.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from helicase.v1 import admin_pb2

TENANT_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")  # fullmatch: "$" would let a final "\n" in
MIN_TTL = timedelta(seconds=1)
MAX_TTL = timedelta(days=36_525)
"""An API key lives at most 100 years: its expiry time must stay a date PostgreSQL and Python
can hold (a Duration may say 10,000 years, or be out of its own range)."""
ROLES = frozenset({admin_pb2.ROLE_VIEWER, admin_pb2.ROLE_SUBMITTER, admin_pb2.ROLE_ADMIN})


def _display_name(value: str, field: str) -> list[FieldViolation]:
    return limits.too_long(field, value, limits.DISPLAY_NAME)


TENANT_ID_RULE = "must be 1-63 lower-case letters, digits or '-', starting with a letter"


def check_tenant(tenant: admin_pb2.Tenant) -> None:
    violations = _display_name(tenant.display_name, "tenant.display_name")
    if not TENANT_ID.fullmatch(tenant.id):
        violations.insert(0, FieldViolation("tenant.id", TENANT_ID_RULE))
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
    ttl = None
    if request.HasField("ttl"):
        ttl = _ttl(request.ttl.seconds, request.ttl.nanos)
        if ttl is None:
            violations.append(FieldViolation("ttl", "must be a valid Duration of 1s to 100 years"))
    if violations:
        raise InvalidArgument(violations)
    return ttl


def _ttl(seconds: int, nanos: int) -> timedelta | None:
    """The ttl as a timedelta, None unless a valid Duration (nanos within a second, of the
    seconds' sign) of MIN_TTL..MAX_TTL; checked before a timedelta is made, which could
    overflow."""
    if not MIN_TTL.total_seconds() <= seconds <= MAX_TTL.total_seconds() or not 0 <= nanos < 10**9:
        return None
    ttl = timedelta(seconds=seconds, microseconds=nanos // 1000)
    return ttl if ttl <= MAX_TTL else None


def tenant_in_reach(principal: Principal, requested: str) -> str:
    """The tenant a call acts on: `requested`, or the caller's own when empty. Only a platform
    admin reaches another tenant; anyone else naming one is PERMISSION_DENIED, whether that
    tenant exists or not (so existence does not leak). A platform admin naming an id no tenant
    can have is INVALID_ARGUMENT."""
    tenant = requested or principal.tenant
    if tenant != principal.tenant and not principal.platform_admin:
        raise PermissionDenied("only a platform admin acts on another tenant")
    if tenant != principal.tenant and not TENANT_ID.fullmatch(tenant):
        # no tenant has such an id, and a NUL, say, would reach PostgreSQL
        raise InvalidArgument([FieldViolation("tenant_id", TENANT_ID_RULE)])
    return tenant

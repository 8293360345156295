"""AdminService's validation of what the fuzzer sent it: any ttl Duration is a key lifetime of
1 s to 100 years or INVALID_ARGUMENT naming `ttl`, never an overflow (int64 seconds made
ToTimedelta raise OverflowError, answered UNKNOWN); a tenant id no tenant can have, or a NUL in a
display name, is INVALID_ARGUMENT before it reaches PostgreSQL (which refused the NUL: UNKNOWN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import duration_pb2
from hypothesis import given
from hypothesis import strategies as st

from helicase.api.admin.validation import MAX_TTL, check_create_key, check_tenant, tenant_in_reach
from helicase.api.auth.principal import PLATFORM_TENANT, Principal, Role
from helicase.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from helicase.v1 import admin_pb2


def _request(seconds: int, nanos: int) -> admin_pb2.CreateApiKeyRequest:
    return admin_pb2.CreateApiKeyRequest(
        tenant_id="t",
        role=admin_pb2.ROLE_ADMIN,
        ttl=duration_pb2.Duration(seconds=seconds, nanos=nanos),
    )


@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**31), 2**31 - 1))
def test_any_ttl_is_a_lifetime_in_range_or_invalid_argument(seconds: int, nanos: int) -> None:
    try:
        ttl = check_create_key(_request(seconds, nanos))
    except InvalidArgument as exc:
        assert [v.field for v in exc.violations] == ["ttl"]
        return
    assert ttl is not None
    assert timedelta(seconds=1) <= ttl <= MAX_TTL
    assert datetime.now(UTC) + ttl  # an expiry time Python (and PostgreSQL) can hold


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(2**63 - 1, 0), (-(2**63), 0), (10**12, 0), (0, 999_999_999), (5, -1), (1, 10**9)],
)
def test_ttl_out_of_range_is_refused(seconds: int, nanos: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_create_key(_request(seconds, nanos))
    assert caught.value.violations == [
        FieldViolation("ttl", "must be a valid Duration of 1s to 100 years")
    ]


def test_a_ttl_of_an_hour_or_of_100_years_is_taken() -> None:
    assert check_create_key(_request(3600, 0)) == timedelta(hours=1)
    assert check_create_key(_request(int(MAX_TTL.total_seconds()), 0)) == MAX_TTL


PLATFORM = Principal(PLATFORM_TENANT, "key:p", Role.ADMIN)


@pytest.mark.parametrize("tenant_id", ["t1\x00", "demo\n", "Demo", "", "x" * 64])
def test_a_tenant_id_no_tenant_can_have_is_invalid_argument(tenant_id: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_tenant(admin_pb2.Tenant(id=tenant_id))
    assert caught.value.violations[0].field == "tenant.id"
    if tenant_id:
        with pytest.raises(InvalidArgument) as named:
            tenant_in_reach(PLATFORM, tenant_id)
        assert [v.field for v in named.value.violations] == ["tenant_id"]


def test_a_display_name_with_a_nul_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_tenant(admin_pb2.Tenant(id="acme", display_name="a\x00b"))
    assert caught.value.violations == [
        FieldViolation("tenant.display_name", "must not contain NUL characters")
    ]


def test_tenants_in_reach_are_unchanged_for_valid_ids() -> None:
    assert tenant_in_reach(PLATFORM, "acme-2") == "acme-2"
    assert tenant_in_reach(PLATFORM, "") == PLATFORM_TENANT
    own = Principal("demo", "key:d", Role.ADMIN)
    assert tenant_in_reach(own, "") == "demo"
    with pytest.raises(PermissionDenied):
        tenant_in_reach(own, "other\x00")

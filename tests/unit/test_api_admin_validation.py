"""CreateApiKey's ttl: any Duration a caller sends is a key lifetime of 1 s to 100 years or
INVALID_ARGUMENT naming `ttl`, never an overflow (found by the fuzzer: int64 seconds made
ToTimedelta raise OverflowError, answered UNKNOWN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import duration_pb2
from hypothesis import given
from hypothesis import strategies as st

from helicase.api.admin.validation import MAX_TTL, check_create_key
from helicase.common.errors import FieldViolation, InvalidArgument
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

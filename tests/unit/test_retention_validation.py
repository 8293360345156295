"""PurgeWorkflows' age: an override can only keep more, and no Duration the wire can carry
breaks it (the fuzzer's OverflowError answered UNKNOWN)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf import duration_pb2

from helicase.api.retention.validation import age_of
from helicase.common.errors import InvalidArgument
from helicase.v1 import retention_pb2

TTL = timedelta(days=30)


def request(seconds: int, nanos: int = 0) -> retention_pb2.PurgeWorkflowsRequest:
    return retention_pb2.PurgeWorkflowsRequest(
        dry_run=True, older_than=duration_pb2.Duration(seconds=seconds, nanos=nanos)
    )


def test_the_ttl_applies_unless_a_longer_age_is_asked() -> None:
    assert age_of(retention_pb2.PurgeWorkflowsRequest(), TTL) == TTL
    assert age_of(request(90 * 86_400), TTL) == timedelta(days=90)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(-(2**63), 0), (2**63 - 1, 0), (-1, 0), (86_400 * 40, -5), (86_400 * 40, 10**9), (60, 0)],
)
def test_any_other_age_is_invalid_argument_on_older_than(seconds: int, nanos: int) -> None:
    with pytest.raises(InvalidArgument) as exc:
        age_of(request(seconds, nanos), TTL)
    assert [v.field for v in exc.value.violations] == ["older_than"]

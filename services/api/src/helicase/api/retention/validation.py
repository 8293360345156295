"""Validation of PurgeWorkflows: the age it purges at, never younger than the TTL."""

from __future__ import annotations

from datetime import timedelta

from helicase.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from helicase.v1 import retention_pb2

MAX_OLDER_THAN = timedelta(days=36_500)


def age_of(request: retention_pb2.PurgeWorkflowsRequest, ttl: timedelta) -> timedelta:
    """How old a finished workflow must be to go: `older_than`, or the TTL when unset.
    FailedPrecondition when retention is off (TTL 0)."""
    if ttl <= timedelta(0):
        raise FailedPrecondition(
            "retention is off (HELICASE_RETENTION_TTL is 0): nothing is purged"
        )
    if not request.HasField("older_than"):
        return ttl
    seconds, nanos = request.older_than.seconds, request.older_than.nanos
    if seconds < 0 or not 0 <= nanos < 10**9:  # ToTimedelta would overflow on the extremes
        raise InvalidArgument([FieldViolation("older_than", "is not a valid positive Duration")])
    if seconds > MAX_OLDER_THAN.total_seconds():
        raise InvalidArgument(
            [FieldViolation("older_than", f"is longer than {MAX_OLDER_THAN.days} days")]
        )
    asked = request.older_than.ToTimedelta()
    if asked < ttl:
        raise InvalidArgument(
            [
                FieldViolation(
                    "older_than",
                    f"is shorter than the retention TTL ({ttl}); an override can only keep more",
                )
            ]
        )
    return asked

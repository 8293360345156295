"""Errors shared by the services: plain exceptions, importable by pure code (no gRPC here;
helicase.common.status maps them to rich gRPC statuses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class FieldViolation:
    """One offending field of a request, e.g. field="workflow.tasks[1].depends_on[0]"."""

    field: str
    description: str


class InvalidArgument(Exception):
    """A request is malformed; carries every field violation found."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"invalid request: {summary}{more}")


class NotFound(Exception):
    """The named resource does not exist."""


class AlreadyExists(Exception):
    """The resource a create names (by a caller-chosen id) exists already."""


class FailedPrecondition(Exception):
    """The request is illegal in the resource's current state."""


class Unauthenticated(Exception):
    """The caller is not identified: no credentials, or bad, expired or revoked ones."""


class PermissionDenied(Exception):
    """The caller is identified but its role does not allow the call. (Another tenant's
    resource is NotFound, never this, so that existence does not leak.)"""


class ResourceExhausted(Exception):
    """The caller is over one of its fair-use limits (request rate, open streams, queued
    tasks); `retry_after` is when trying again may succeed."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class NonRetryableError(Exception):
    """Raised by task code for a failure no retry can fix (bad key, invalid input):
    the task ends FATAL_FAILED and its workflow stops."""

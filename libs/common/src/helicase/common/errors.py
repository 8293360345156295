"""Errors shared by the services, and their mapping to rich gRPC statuses."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


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


class FailedPrecondition(Exception):
    """The request is illegal in the resource's current state."""


class NonRetryableError(Exception):
    """Raised by task code for a failure no retry can fix (bad key, invalid input):
    the task ends FATAL_FAILED and its workflow stops."""


def _status(code: grpc.StatusCode, rpc_code: int, message: str, *details: object) -> grpc.Status:
    proto = status_pb2.Status(code=rpc_code, message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        proto.details.append(packed)
    return rpc_status.to_status(proto)


def invalid_argument_status(exc: InvalidArgument) -> grpc.Status:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in exc.violations
        ]
    )
    return _status(grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, str(exc), bad)


def error_info_status(
    code: grpc.StatusCode, rpc_code: int, message: str, reason: str, **metadata: str
) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=reason, domain="helicase", metadata=metadata)
    return _status(code, rpc_code, message, info)


def field_violations(err: grpc.RpcError) -> list[FieldViolation]:
    """Client side: the BadRequest field violations carried by an error, if any."""
    status = rpc_status.from_call(err)
    out: list[FieldViolation] = []
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return out

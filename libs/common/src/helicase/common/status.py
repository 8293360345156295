"""Domain errors (helicase.common.errors) as rich gRPC statuses, and back on the client side."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from helicase.common.errors import FieldViolation, InvalidArgument, ResourceExhausted
from helicase.common.limits import ERROR_MESSAGE, shown_violations, truncate


def _status(code: grpc.StatusCode, rpc_code: int, message: str, *details: object) -> grpc.Status:
    proto = status_pb2.Status(code=rpc_code, message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        proto.details.append(packed)
    return rpc_status.to_status(proto)


def invalid_argument_status(exc: InvalidArgument) -> grpc.Status:
    # Bounded: an error about a huge request must itself fit in gRPC's trailer limit.
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in shown_violations(exc.violations)
        ]
    )
    message = truncate(str(exc), ERROR_MESSAGE)
    return _status(grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, message, bad)


def resource_exhausted_status(exc: ResourceExhausted) -> grpc.Status:
    """RESOURCE_EXHAUSTED with a google.rpc.RetryInfo saying when to try again."""
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromTimedelta(exc.retry_after)
    return _status(grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED, str(exc), retry)


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

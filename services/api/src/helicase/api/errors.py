"""The api's one error mapping: domain errors raised by any handler become gRPC statuses here.

Handlers raise (helicase.common.errors); `ErrorMappingInterceptor`, registered on the api's gRPC
server, turns what they raise into a status for unary and server-streaming calls alike. The HTTP
port (helicase.api.web) forwards every Connect call to that same gRPC server, so browsers get the
same codes, messages and details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from confluent_kafka import KafkaException
from sqlalchemy.exc import InterfaceError, OperationalError

from helicase.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from helicase.common.status import invalid_argument_status, resource_exhausted_status

log = logging.getLogger(__name__)
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"  # every handler's second argument
MAPPED = (
    InvalidArgument,
    AlreadyExists,
    NotFound,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    OperationalError,
    InterfaceError,
    KafkaException,
)


def status_of(exc: BaseException) -> grpc.Status | tuple[grpc.StatusCode, str] | None:
    """The status a handler's exception maps to (None: not a mapped error, let it through).
    InvalidArgument carries a google.rpc.BadRequest naming each offending field."""
    if isinstance(exc, InvalidArgument):
        return invalid_argument_status(exc)
    if isinstance(exc, ResourceExhausted):
        return resource_exhausted_status(exc)
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc)
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, str(exc)
    if isinstance(exc, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, str(exc)
    if isinstance(exc, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # PostgreSQL is down or restarting: nothing was stored, the client may retry.
        log.warning("database unavailable", extra={"error": str(exc).splitlines()[0]})
        return grpc.StatusCode.UNAVAILABLE, "database unavailable; retry"
    if isinstance(exc, KafkaException):
        # Kafka is down or restarting (the dead-letter topics are read there): retry.
        log.warning("kafka unavailable", extra={"error": str(exc)})
        return grpc.StatusCode.UNAVAILABLE, "kafka unavailable; retry"
    return None


async def abort_with(context: Context, exc: BaseException) -> None:
    """Ends the call with the status `exc` maps to; re-raises `exc` when it maps to none."""
    status = status_of(exc)
    if status is None:
        raise exc
    if isinstance(status, tuple):
        await context.abort(*status)
    else:
        await context.abort_with_status(status)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every unary and server-streaming handler with `abort_with`."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: Context) -> Any:
                try:
                    return await inner(request, context)
                except MAPPED as exc:
                    await abort_with(context, exc)

            return handler._replace(unary_unary=unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except MAPPED as exc:
                    await abort_with(context, exc)

            return handler._replace(unary_stream=stream)
        return handler

"""The api's one error mapping: domain errors raised by any handler become gRPC statuses here.

Handlers raise (helicase.common.errors); `ErrorMappingInterceptor`, registered on the api's gRPC
server, turns what they raise into a status for unary and server-streaming calls alike. It also
parses each request itself: bytes that are not a valid request message (corrupt wire format,
invalid UTF-8 in a string, nesting past protobuf's limit) are INVALID_ARGUMENT, where gRPC's own
parsing would answer UNKNOWN ("Unexpected DecodeError"). The HTTP
port (helicase.api.web) forwards every Connect call to that same gRPC server, so browsers get the
same codes, messages and details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from confluent_kafka import KafkaException
from google.protobuf.message import DecodeError
from sqlalchemy.exc import InterfaceError, OperationalError

from helicase.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
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


Parse: TypeAlias = Callable[[bytes], Any]


def parsed(parse: Parse | None, request: Any) -> Any:
    """`request` as `parse` (the handler's own deserializer) makes it; InvalidArgument when the
    bytes are no valid request."""
    if parse is None:
        return request
    try:
        return parse(request)
    except DecodeError as exc:
        raise InvalidArgument([FieldViolation("", f"not a valid request message: {exc}")]) from exc


Admit: TypeAlias = Callable[[str, Context], Awaitable[object]]


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every unary and server-streaming handler with `abort_with`, after parsing its
    request (see `parsed`). `admit` (the public port's authentication and policy) runs before
    an unparsable request is refused, so a caller without a valid token learns only that:
    UNAUTHENTICATED, never whether its bytes would have parsed."""

    def __init__(self, admit: Admit | None = None) -> None:
        self._admit = admit

    async def _request(self, method: str, parse: Parse | None, raw: Any, context: Context) -> Any:
        try:
            return parsed(parse, raw)
        except InvalidArgument:
            if self._admit is not None:
                await self._admit(method, context)
            raise

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        parse: Parse | None = handler.request_deserializer
        method: str = handler_call_details.method
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: Context) -> Any:
                try:
                    message = await self._request(method, parse, request, context)
                    return await inner(message, context)
                except MAPPED as exc:
                    await abort_with(context, exc)

            # gRPC hands the raw bytes over; `parsed` makes the message.
            return handler._replace(unary_unary=unary, request_deserializer=None)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    message = await self._request(method, parse, request, context)
                    async for item in inner_stream(message, context):
                        yield item
                except MAPPED as exc:
                    await abort_with(context, exc)

            return handler._replace(unary_stream=stream, request_deserializer=None)
        return handler

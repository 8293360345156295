"""The one authentication layer of the api's gRPC server (and so of the HTTP port, which
forwards to it): every call but health and reflection carries `authorization: Bearer <token>`;
the token becomes a principal, the policy table says whether that principal may call the method,
and the handler runs as it (`principal.acting`). Mutating calls leave an audit event.

It raises Unauthenticated/PermissionDenied like any handler, so it is registered inside the
ErrorMappingInterceptor, which maps them. Being inside also lets it write a failed mutation's
audit event before the status goes out (`context.abort` sends it at once): a caller that reads
the audit right after a refused call finds it there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from helicase.api.auth import policy
from helicase.api.auth.audit import AuditLog
from helicase.api.auth.authenticator import Authenticator
from helicase.api.auth.principal import Principal, acting
from helicase.api.errors import Context, status_of
from helicase.common.errors import PermissionDenied

log = logging.getLogger(__name__)
AUTHORIZATION = "authorization"
BEARER = "bearer "


def bearer_of(metadata: Any) -> str:
    """The token of the call's `authorization: Bearer <token>` header ("" when none)."""
    for key, value in metadata or ():
        is_bearer = isinstance(value, str) and value[: len(BEARER)].lower() == BEARER
        if key.lower() == AUTHORIZATION and is_bearer:
            return str(value)[len(BEARER) :].strip()
    return ""


def result_of(exc: BaseException, context: Context) -> str:
    """The status name a handler's exception ends its call with (the one it aborted with, or
    UNKNOWN for an unexpected error)."""
    status = status_of(exc)
    if isinstance(status, tuple):
        return str(status[0].name)
    if status is not None:
        return str(status.code.name)
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, authenticator: Authenticator, audit: AuditLog) -> None:
        self._authenticator = authenticator
        self._audit = audit

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or policy.is_open(method):
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(method, handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(method, handler.unary_stream))
        return handler._replace(  # no client-streaming method is public: refuse any
            stream_unary=self._refuse(method) if handler.stream_unary else None,
            stream_stream=self._refuse(method) if handler.stream_stream else None,
        )

    async def admit(self, method: str, context: Context) -> None:
        """Raises Unauthenticated or PermissionDenied when `method` is not open to the caller
        (the error mapping asks before it refuses an unparsable request)."""
        if not policy.is_open(method):
            await self._admit(method, context)

    async def _admit(self, method: str, context: Context) -> tuple[Principal, policy.Rule]:
        """The caller's principal and the method's rule; Unauthenticated or PermissionDenied
        when the call may not run (a refused mutation is audited)."""
        principal = await self._authenticator.authenticate(bearer_of(context.invocation_metadata()))
        rule = policy.rule_for(method)
        try:
            rule.check(principal, method)
        except PermissionDenied:
            if rule.mutation:
                await self._audit.record(principal, method, "", "PERMISSION_DENIED")
            raise
        return principal, rule

    def _unary(self, method: str, inner: Callable[..., Awaitable[Any]]) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            principal, rule = await self._admit(method, context)
            with acting(principal):
                if not rule.mutation:
                    return await inner(request, context)
                try:
                    response = await inner(request, context)
                except BaseException as exc:
                    resource = policy.resource_of(method, request, None)
                    await self._audit.record(principal, method, resource, result_of(exc, context))
                    raise
                resource = policy.resource_of(method, request, response)
                await self._audit.record(principal, method, resource, "OK")
                return response

        return unary

    def _stream(self, method: str, inner: Callable[..., AsyncIterator[Any]]) -> Any:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            principal, rule = await self._admit(method, context)
            with acting(principal):
                async for item in inner(request, context):
                    yield item
            if rule.mutation:
                await self._audit.record(
                    principal, method, policy.resource_of(method, request, None)
                )

        return stream

    @staticmethod
    def _refuse(method: str) -> Any:
        async def refuse(_: Any, context: Context) -> Any:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method} is not open")

        return refuse

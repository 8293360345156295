"""The one authentication layer of the api's gRPC server (and so of the HTTP port, which
forwards to it): every call but health and reflection carries `authorization: Bearer <token>`;
the token becomes a principal, the policy table says whether that principal may call the method,
and the handler runs as it (`principal.acting`). Mutating calls leave an audit event.

Registered before the ErrorMappingInterceptor, so it wraps the mapped handler: it answers
UNAUTHENTICATED/PERMISSION_DENIED itself and reads the status the inner layers set.
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
from helicase.api.errors import Context, abort_with
from helicase.common.errors import PermissionDenied, Unauthenticated

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


def _failed(context: Context) -> str:
    """The status name of a call whose handler raised (UNKNOWN when no layer set one)."""
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

    async def _admit(self, method: str, context: Context) -> tuple[Principal, policy.Rule]:
        """The caller's principal and the method's rule; ends the call when it may not run."""
        principal = None
        try:
            principal = await self._authenticator.authenticate(
                bearer_of(context.invocation_metadata())
            )
            rule = policy.rule_for(method)
            rule.check(principal, method)
            return principal, rule
        except (Unauthenticated, PermissionDenied) as exc:
            if principal is not None and isinstance(exc, PermissionDenied):
                await self._audit.record(principal, method, "", "PERMISSION_DENIED")
            await abort_with(context, exc)
            raise  # abort_with always raises; this keeps the type checker informed

    def _unary(self, method: str, inner: Callable[..., Awaitable[Any]]) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            principal, rule = await self._admit(method, context)
            with acting(principal):
                if not rule.mutation:
                    return await inner(request, context)
                try:
                    response = await inner(request, context)
                except BaseException:
                    resource = policy.resource_of(method, request, None)
                    await self._audit.record(principal, method, resource, _failed(context))
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

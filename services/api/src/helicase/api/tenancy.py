"""The tenant every query of the data layer runs in: the one place where tenants are kept apart.

Every store reads and writes through these functions, never through a tenant of its own choosing:
`where(table)` is the condition that confines a query to the caller's tenant (nothing for a
Helicase component, which reads every tenant), `owner()` the tenant a new row is stamped with.
Another tenant's row is therefore simply not found: NOT_FOUND, never PERMISSION_DENIED, so its
existence does not leak. Handlers do no checks of their own.

The tenant comes from the principal of the call (helicase.api.auth.principal). A component
(principal.component, the tenant ANY_TENANT) may act for one tenant by sending the gRPC
metadata `helicase-tenant` (helicase.common.tenants.TENANT_METADATA); `ActingForInterceptor`
reads it for every call, and it counts only for a component: any other caller is confined to
its own tenant whatever metadata it sends.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from sqlalchemy import ColumnElement, Table

from helicase.api.auth import principal
from helicase.common.errors import FailedPrecondition
from helicase.common.grpc_server import Continuation, around_calls
from helicase.common.tenants import TENANT_METADATA

_acting_for: contextvars.ContextVar[str] = contextvars.ContextVar("helicase_acting_for", default="")


@contextmanager
def acting_for(tenant: str) -> Iterator[None]:
    """Runs the enclosed code for `tenant` when the principal is a component (the scheduler
    creating a schedule's workflow); no effect for any other principal."""
    token = _acting_for.set(tenant)
    try:
        yield
    finally:
        _acting_for.reset(token)


def scope() -> str | None:
    """The tenant the current call reads and writes; None for a component acting for no tenant
    (it reads every tenant). Unauthenticated when the call has no principal."""
    caller = principal.current()
    if not caller.component:
        return caller.tenant
    return _acting_for.get() or None


def component_call() -> bool:
    """True when a Helicase component makes the call (it may set the labels Helicase reserves:
    the scheduler firing a schedule labels the workflow with it)."""
    return principal.current().component


def where(table: Table) -> list[ColumnElement[bool]]:
    """The conditions confining a query of `table` (which has a `tenant` column) to the call's
    tenant: `select(t).where(t.c.id == x, *where(t))`."""
    tenant = scope()
    return [] if tenant is None else [table.c.tenant == tenant]


def owner() -> str:
    """The tenant a row created by this call belongs to."""
    tenant = scope()
    if tenant is None:
        raise FailedPrecondition(
            f"a component creates only for a tenant it names ({TENANT_METADATA} metadata)"
        )
    return tenant


def _named_tenant(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == TENANT_METADATA and isinstance(value, str):
            return value
    return ""


class ActingForInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs each call with the tenant its `helicase-tenant` metadata names (see `scope`: it
    counts only for a component principal)."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        tenant = _named_tenant(details)
        handler = await continuation(details)
        if handler is None or not tenant:
            return handler
        return around_calls(handler, lambda: acting_for(tenant))

"""The principal a call runs as (tenant, subject, role), set once per call by the api's
authentication layer and read by the data layer, which scopes every query to its tenant.

Handlers never check tokens or tenants themselves: the auth interceptor sets the principal with
`acting`, stores read it with `current` (which refuses a call that has none), and the error
interceptor turns `Unauthenticated`/`PermissionDenied` into their gRPC statuses.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum

from helicase.common.errors import PermissionDenied, Unauthenticated

PLATFORM_TENANT = "platform"
"""The reserved tenant whose admins manage tenants (the platform admin)."""

ANY_TENANT = "*"
"""The tenant of a Helicase component calling over the internal plane (the scheduler listing every
tenant's due schedules, the sink recording events): the data layer does not filter its reads.
Never the tenant of a caller on a public listener. Anything it creates names its tenant itself
(e.g. a workflow fired from a schedule is created in the schedule's tenant)."""


class Role(IntEnum):
    """A principal's role within its tenant; each includes the ones below it. The values are
    helicase.v1.Role's (ROLE_VIEWER = 1, ...)."""

    VIEWER = 1
    SUBMITTER = 2
    ADMIN = 3


@dataclass(frozen=True)
class Principal:
    """Who a call runs as. `subject` names the key (`key:<id>`) or the JWT's subject."""

    tenant: str
    subject: str
    role: Role

    @property
    def component(self) -> bool:
        """A Helicase component on the internal plane (identified by its certificate)."""
        return self.tenant == ANY_TENANT

    @property
    def platform_admin(self) -> bool:
        return self.tenant == PLATFORM_TENANT and self.role >= Role.ADMIN

    def require(self, role: Role) -> None:
        """Raises PermissionDenied unless this principal has `role` (or a higher one)."""
        if self.role < role:
            raise PermissionDenied(
                f"this call needs {role.name.lower()}; the caller is {self.role.name.lower()}"
            )


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "helicase_principal", default=None
)


def current() -> Principal:
    """The principal of the call in progress; Unauthenticated when none was set (a code path
    that reached the data layer without passing the auth layer is refused, not let through)."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no principal for this call")
    return principal


@contextmanager
def acting(principal: Principal) -> Iterator[Principal]:
    """Runs the enclosed code as `principal`."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)

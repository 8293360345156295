"""The api's internal listener: who may call what, by the peer's certificate.

Every call on the internal listener (mutual TLS, HELICASE_API_INTERNAL_ADDR) comes from a
component whose certificate the TLS handshake verified against the deployment's CA. The
interceptor reads the component's kind and name from it (helicase.common.tls), refuses a kind
calling a method that is not its own (PERMISSION_DENIED), and runs the call as the principal
`component:<kind>:<name>` of ANY_TENANT. A component's call that carries the metadata
`helicase-tenant: <t>` reads and writes within tenant t (helicase.api.tenancy's
ActingForInterceptor, next on the listener): the scheduler creates a schedule's workflow in the
schedule's tenant, and, being a component, may set the system's reserved labels. The public
listener's interceptor is auth/interceptor.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from helicase.api.auth.principal import ANY_TENANT, Principal, Role, acting
from helicase.common import tls
from helicase.internal.v1 import credential_secret_pb2, event_pb2
from helicase.v1 import schedule_pb2, workflow_service_pb2


def _service(descriptor: object, name: str) -> str:
    return f"/{descriptor.services_by_name[name].full_name}/"  # type: ignore[attr-defined]


EVENTS = _service(event_pb2.DESCRIPTOR, "EventService")
CREDENTIALS = _service(credential_secret_pb2.DESCRIPTOR, "CredentialSecretService")
WORKFLOWS = _service(workflow_service_pb2.DESCRIPTOR, "WorkflowService")
SCHEDULES = _service(schedule_pb2.DESCRIPTOR, "ScheduleService")

ALLOWED: Mapping[str, frozenset[str]] = {
    EVENTS: frozenset({"sink"}),
    CREDENTIALS: frozenset({"participant"}),
    # The scheduler: fires due schedules (list them, create their workflows) and reads the
    # stored state of a workflow it adopts or follows.
    f"{SCHEDULES}ListSchedules": frozenset({"scheduler"}),
    f"{WORKFLOWS}CreateWorkflow": frozenset({"scheduler"}),
    f"{WORKFLOWS}GetWorkflow": frozenset({"scheduler"}),
}


def principal_of(identity: tls.Identity, metadata: Mapping[str, str]) -> Principal:
    """The principal a component's call runs as (its tenant, if it names one, is set by
    tenancy.ActingForInterceptor)."""
    return Principal(ANY_TENANT, identity.subject, Role.SUBMITTER)


def _enter(
    identity: tls.Identity, metadata: Mapping[str, str]
) -> AbstractContextManager[Principal]:
    return acting(principal_of(identity, metadata))


def interceptor() -> tls.PeerInterceptor:
    """The internal listener's interceptor (first in the list: the call runs as the principal)."""
    return tls.PeerInterceptor(ALLOWED, _enter)

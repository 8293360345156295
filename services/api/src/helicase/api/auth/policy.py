"""Which principal may call which method of the api's gRPC server: one declarative table, read
by the auth interceptor (helicase.api.auth.interceptor), so that no handler checks roles itself.

A method missing from the table is refused (default deny), except the open ones (health and
server reflection). `mutation` marks the calls the interceptor writes an audit event for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from google.protobuf.message import Message

from helicase.api.auth.principal import Principal, Role
from helicase.common.errors import PermissionDenied


class Audience(Enum):
    """Who, besides the role, a method is for."""

    TENANT = "tenant"  # any principal of a tenant with the role
    PLATFORM = "platform"  # only a platform admin


@dataclass(frozen=True)
class Rule:
    role: Role
    mutation: bool = False
    audience: Audience = Audience.TENANT

    def check(self, principal: Principal, method: str) -> None:
        """Raises PermissionDenied unless `principal` may call `method` under this rule."""
        if self.audience is Audience.PLATFORM and not principal.platform_admin:
            raise PermissionDenied(f"{method} needs a platform admin")
        principal.require(self.role)


OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
"""Methods anyone may call without a token: health checks and server reflection."""

VIEW = Rule(Role.VIEWER)
SUBMIT = Rule(Role.SUBMITTER, mutation=True)
ADMIN_READ = Rule(Role.ADMIN)
ADMIN_WRITE = Rule(Role.ADMIN, mutation=True)
PLATFORM_READ = Rule(Role.ADMIN, audience=Audience.PLATFORM)
PLATFORM_WRITE = Rule(Role.ADMIN, mutation=True, audience=Audience.PLATFORM)

_BY_SERVICE: dict[str, dict[str, Rule]] = {
    "helicase.v1.WorkflowService": {
        "CreateWorkflow": SUBMIT,
        "GetWorkflow": VIEW,
        "ListWorkflows": VIEW,
        "CancelWorkflow": SUBMIT,
        "WatchWorkflow": VIEW,
        "ListTasks": VIEW,
    },
    "helicase.v1.TaskTypeService": {"ListTaskTypes": VIEW, "GetTaskType": VIEW},
    "helicase.v1.ParticipantRegistryService": {"ListParticipants": VIEW},
    "helicase.v1.ScheduleService": {
        "CreateSchedule": SUBMIT,
        "GetSchedule": VIEW,
        "ListSchedules": VIEW,
        "SetSchedulePaused": SUBMIT,
        "DeleteSchedule": SUBMIT,
    },
    "helicase.v1.TemplateService": {
        "CreateTemplate": SUBMIT,
        "GetTemplate": VIEW,
        "ListTemplates": VIEW,
        "UpdateTemplate": SUBMIT,
        "DeleteTemplate": SUBMIT,
    },
    "helicase.v1.ExperimentService": {
        "CreateExperiment": SUBMIT,
        "GetExperiment": VIEW,
        "ListExperiments": VIEW,
        "CancelExperiment": SUBMIT,
    },
    "helicase.v1.ResourceService": {
        "CreateComputeResource": ADMIN_WRITE,
        "GetComputeResource": VIEW,
        "ListComputeResources": VIEW,
        "CreateStorageResource": ADMIN_WRITE,
        "GetStorageResource": VIEW,
        "ListStorageResources": VIEW,
        "CreateCredential": ADMIN_WRITE,
        "GetCredential": VIEW,
        "ListCredentials": VIEW,
        "RotateCredentialKey": PLATFORM_WRITE,  # every tenant's credentials
    },
    "helicase.v1.AdminService": {
        "CreateTenant": PLATFORM_WRITE,
        "ListTenants": ADMIN_READ,
        "CreateApiKey": ADMIN_WRITE,
        "ListApiKeys": ADMIN_READ,
        "RevokeApiKey": ADMIN_WRITE,
        "ListAuditEvents": ADMIN_READ,
        "GetTenantLimits": ADMIN_READ,
        "UpdateTenantLimits": PLATFORM_WRITE,
    },
    "helicase.v1.DeadLetterService": {
        "ListDeadLetters": PLATFORM_READ,
        "ReplayDeadLetters": PLATFORM_WRITE,
    },
    # A tenant admin purges its own tenant's finished workflows; a platform admin any tenant's.
    "helicase.v1.RetentionService": {"PurgeWorkflows": ADMIN_WRITE},
}

POLICY: dict[str, Rule] = {
    f"/{service}/{method}": rule
    for service, methods in _BY_SERVICE.items()
    for method, rule in methods.items()
}
"""The rule of each method, by its full path ("/helicase.v1.WorkflowService/CreateWorkflow")."""


def is_open(method: str) -> bool:
    return method.startswith(OPEN_PREFIXES)


def rule_for(method: str) -> Rule:
    """The rule of `method`; PermissionDenied for a method the table does not name."""
    rule = POLICY.get(method)
    if rule is None:
        raise PermissionDenied(f"{method} is not open to callers")
    return rule


def _noun(method: str) -> str:
    """ "workflow" of "/helicase.v1.WorkflowService/CancelWorkflow" (the RPC name less its
    verb, in snake case)."""
    name = method.rsplit("/", 1)[-1]
    for i in range(1, len(name)):
        if name[i].isupper():
            name = name[i:]
            break
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def resource_of(method: str, request: Message, response: Message | None) -> str:
    """The resource a call acted on, for its audit event: "<field>/<id>" of the first resource
    in the response (or the request) that has an id, else "<noun>/<request.id>", else ""."""
    for message in (response, request):
        if message is None:
            continue
        for fd in message.DESCRIPTOR.fields:
            if fd.message_type is None or fd.is_repeated:
                continue
            if not message.HasField(fd.name):
                continue
            inner_id = _id_of(getattr(message, fd.name))
            if inner_id:
                return f"{fd.name}/{inner_id}"
    request_id = _id_of(request)
    return f"{_noun(method)}/{request_id}" if request_id else ""


def _id_of(message: Message) -> str:
    """The message's `id` field ("" when it has none or it is empty)."""
    field = message.DESCRIPTOR.fields_by_name.get("id")
    return "" if field is None else str(getattr(message, field.name))

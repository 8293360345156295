"""API keys of a running suite, issued through AdminService with the platform admin's token:
the local suite's HELICASE_TOKEN (admin of tenant `demo`), and any tenant and role a test needs
(`issue_key`)."""

from __future__ import annotations

from pathlib import Path

import grpc

from helicase.devstack import _secrets_env
from helicase.v1 import admin_pb2, admin_pb2_grpc, task_type_pb2, task_type_pb2_grpc

DEMO_TENANT = "demo"
ROLES = {
    "viewer": admin_pb2.ROLE_VIEWER,
    "submitter": admin_pb2.ROLE_SUBMITTER,
    "admin": admin_pb2.ROLE_ADMIN,
}


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def issue_key(
    addr: str,
    admin_token: str,
    tenant: str,
    role: str = "admin",
    *,
    display_name: str = "",
    timeout: float = 10.0,
) -> str:
    """The token of a new API key of `tenant` with `role` ("viewer", "submitter", "admin"),
    creating the tenant first if it does not exist; `admin_token` is a platform admin's."""
    with grpc.insecure_channel(addr) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        try:
            admin.CreateTenant(
                admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id=tenant)),
                metadata=_bearer(admin_token),
                timeout=timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        response = admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(
                tenant_id=tenant, role=ROLES[role], display_name=display_name or f"{role} key"
            ),
            metadata=_bearer(admin_token),
            timeout=timeout,
        )
    token: str = response.token
    return token


def authenticates(addr: str, token: str, *, timeout: float = 10.0) -> bool:
    """Whether the api at `addr` accepts `token` (a viewer's call with it succeeds)."""
    with grpc.insecure_channel(addr) as channel:
        try:
            task_type_pb2_grpc.TaskTypeServiceStub(channel).ListTaskTypes(
                task_type_pb2.ListTaskTypesRequest(), metadata=_bearer(token), timeout=timeout
            )
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return False
            raise
    return True


def ensure_demo_token(home: Path, addr: str) -> str:
    """The `demo` tenant's admin token in <home>/secrets.env: kept while the api accepts it,
    else a new key is issued and written there."""
    values = _secrets_env.read(home)
    current = values.get(_secrets_env.TOKEN, "")
    if current and authenticates(addr, current):
        return current
    token = issue_key(
        addr, values[_secrets_env.ADMIN_TOKEN], DEMO_TENANT, "admin", display_name="make up"
    )
    _secrets_env.store(home, _secrets_env.TOKEN, token)
    return token

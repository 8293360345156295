"""Callers of the public ports, against a real suite: every public method, on the gRPC port and
on the HTTP port, refuses a call without a valid token (none, garbage, `alg: none`, HS256 signed
with the public key, expired, another issuer, another identity provider's key, a revoked key);
health and reflection stay open; API keys and the identity provider's JWTs become principals;
each role's limits hold; and the audit shows each mutation to its own tenant only."""

from __future__ import annotations

import stat
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from helicase.api.__main__ import SERVICES, WEB_SERVICES
from helicase.devstack import _secrets_env
from helicase.devstack._tokens import ensure_demo_token
from helicase.devstack.testing import RunningSuite, SuiteFactory
from helicase.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)
from tests.jwt_keys import AUDIENCE, ISSUER, IdentityProvider

CACHE_SECONDS = 2
OPEN = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")
# The api's module imports every service it serves, so their descriptors are in the pool.
assert SERVICES
HOST_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
)


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider.new()


@pytest.fixture(scope="module")
def suite(
    make_module_suite: SuiteFactory, idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> RunningSuite:
    """The api (with the identity provider's JWKS) and a participant serving the built-in
    types."""
    jwks = idp.write_jwks(tmp_path_factory.mktemp("idp") / "jwks.json")
    jwks.parent.chmod(0o755)
    return make_module_suite(
        ["api", "participant-1"],
        extra_env={
            "HELICASE_JWT_ISSUER": ISSUER,
            "HELICASE_JWT_AUDIENCE": AUDIENCE,
            "HELICASE_JWT_JWKS": str(jwks),
            "HELICASE_AUTH_CACHE_SECONDS": str(CACHE_SECONDS),
        },
    )


@pytest.fixture
def channel(suite: RunningSuite) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(suite.api_addr) as ch:
        yield ch


def tenant_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token is not None else ()


def public_methods(channel: grpc.Channel) -> list[tuple[str, Any]]:
    """(full path, descriptor) of every method of every service the port lists by reflection,
    but health and reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    [answer] = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name for s in answer.list_services_response.service if s.name not in OPEN]
    pool = descriptor_pool.Default()
    return [
        (f"/{name}/{method.name}", method)
        for name in names
        for method in pool.FindServiceByName(name).methods
    ]


def call(channel: grpc.Channel, path: str, method: Any, token: str | None) -> grpc.StatusCode:
    """The status of `method` called with an empty request and `token`."""
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    rpc = kind(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    try:
        result = rpc(request_class(), metadata=bearer(token), timeout=10)
        if method.server_streaming:
            for _ in result:
                break
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def code_of(rpc: Any, request: Any, token: str | None) -> grpc.StatusCode:
    """The status of `rpc(request)` called with `token`."""
    try:
        rpc(request, metadata=bearer(token), timeout=10)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def test_bytes_that_are_no_request_are_unauthenticated_without_a_valid_token(
    suite: RunningSuite, channel: grpc.Channel
) -> None:
    """A caller without a token learns that it has none, not whether its bytes would parse."""
    garbage = b"\x0f"  # wire type 7: no message parses from it
    refused = []
    for path, method in public_methods(channel):
        kind = channel.unary_stream if method.server_streaming else channel.unary_unary
        rpc = kind(path, request_serializer=None, response_deserializer=None)
        for token in (None, "garbage", suite.token):
            try:
                result = rpc(garbage, metadata=bearer(token), timeout=10)
                if method.server_streaming:
                    for _ in result:
                        break
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            expected = {grpc.StatusCode.UNAUTHENTICATED}
            if token == suite.token:  # refused by its role, or admitted and its bytes refused
                expected = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT}
            if code not in expected:
                refused.append((path, token, code.name))
    assert refused == []


def revoked_key(suite: RunningSuite, channel: grpc.Channel) -> str:
    """A key of a fresh tenant that worked, then was revoked by its tenant's admin."""
    tenant = tenant_name()
    admin_token = suite.issue_key(tenant, "admin")
    token = suite.issue_key(tenant, "viewer")
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    keys = admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=bearer(admin_token))
    [viewer] = [k for k in keys.api_keys if k.role == admin_pb2.ROLE_VIEWER]
    admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(id=viewer.id), metadata=bearer(admin_token))
    return token


def test_every_public_method_refuses_a_call_without_a_valid_token(
    suite: RunningSuite, channel: grpc.Channel, idp: IdentityProvider
) -> None:
    methods = public_methods(channel)
    assert "/helicase.v1.WorkflowService/CreateWorkflow" in dict(methods)
    assert "/helicase.v1.AdminService/CreateApiKey" in dict(methods)
    now = int(time.time())
    stranger = IdentityProvider.new()
    refused = {
        "no token": None,
        "garbage": "garbage",
        "alg none": idp.unsigned("demo", "admin"),
        "HS256 with the public key": idp.hs256_with_public_key("demo", "admin"),
        "expired": idp.token("demo", "admin", exp=now - 120, iat=now - 600),
        "another issuer": idp.token("demo", "admin", iss="https://evil.example.test/"),
        "another identity provider's key": stranger.token("demo", "admin"),
        "a revoked key": revoked_key(suite, channel),
    }
    accepted = []
    for why, token in refused.items():
        for path, method in methods:
            code = call(channel, path, method, token)
            if code != grpc.StatusCode.UNAUTHENTICATED:
                accepted.append((why, path, code.name))
        # The HTTP port: every unary method it serves over Connect, the same refusal.
        for path in web_unary_methods():
            status = connect_call(suite, path, token)
            if status != 401:
                accepted.append((why, f"http {path}", str(status)))
    assert accepted == []
    assert connect_call(suite, "/helicase.v1.TaskTypeService/ListTaskTypes", suite.token) == 200


def web_unary_methods() -> list[str]:
    """The unary methods the api's HTTP port serves (helicase.api.__main__.WEB_SERVICES)."""
    return [
        f"/{service.full_name}/{method.name}"
        for service in WEB_SERVICES
        for method in service.methods
        if not method.server_streaming
    ]


def connect_call(suite: RunningSuite, path: str, token: str | None) -> int:
    """The HTTP status of a Connect unary call (JSON, empty request) on the HTTP port."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = "http://" + suite.specs["api"].env["HELICASE_WEB_ADDR"] + path
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_health_and_reflection_need_no_token(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert len(public_methods(channel)) > 30


def test_the_identity_providers_jwts_work_with_the_role_their_claim_names(
    channel: grpc.Channel, idp: IdentityProvider
) -> None:
    workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    listing = workflow_service_pb2.ListWorkflowsRequest()
    create = workflow_service_pb2.CreateWorkflowRequest(
        request_id=uuid.uuid4().hex,
        workflow=workflow_pb2.Workflow(tasks=[workflow_pb2.Task(id="a", type="noop")]),
    )
    tenant = tenant_name()
    for alg in ("RS256", "ES256", "EdDSA"):
        token = idp.token(tenant, "viewer", alg)
        assert code_of(workflows.ListWorkflows, listing, token) == (grpc.StatusCode.OK)
        assert code_of(workflows.CreateWorkflow, create, token) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    submitter = idp.token(tenant, "submitter", "ES256")
    made = workflows.CreateWorkflow(create, metadata=bearer(submitter))
    assert made.workflow.id


def test_each_role_reaches_only_what_it_may(suite: RunningSuite, channel: grpc.Channel) -> None:
    tenant, other = tenant_name(), tenant_name()
    suite.issue_key(other, "viewer")  # the other tenant exists
    viewer, submitter, admin = (
        suite.issue_key(tenant, r) for r in ("viewer", "submitter", "admin")
    )
    workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    resources = resource_pb2_grpc.ResourceServiceStub(channel)
    admin_stub = admin_pb2_grpc.AdminServiceStub(channel)

    def create_workflow(token: str) -> grpc.StatusCode:
        request = workflow_service_pb2.CreateWorkflowRequest(
            workflow=workflow_pb2.Workflow(tasks=[workflow_pb2.Task(id="a", type="noop")])
        )
        return code_of(workflows.CreateWorkflow, request, token)

    def create_compute(token: str) -> grpc.StatusCode:
        request = resource_pb2.CreateComputeResourceRequest(
            compute_resource=resource_pb2.ComputeResource(
                host="hpc.example.test", login_user="gw", scratch_root="/scratch",
                batch_system=resource_pb2.BATCH_SYSTEM_SLURM, host_key=HOST_KEY,
            )
        )  # fmt: skip
        return code_of(resources.CreateComputeResource, request, token)

    def create_key(token: str, in_tenant: str) -> grpc.StatusCode:
        request = admin_pb2.CreateApiKeyRequest(tenant_id=in_tenant, role=admin_pb2.ROLE_VIEWER)
        return code_of(admin_stub.CreateApiKey, request, token)

    def create_tenant(token: str) -> grpc.StatusCode:
        request = admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id=tenant_name()))
        return code_of(admin_stub.CreateTenant, request, token)

    denied, ok = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OK
    assert create_workflow(viewer) == denied
    assert create_workflow(submitter) == ok
    assert create_compute(submitter) == denied
    assert create_key(submitter, tenant) == denied
    assert create_compute(admin) == ok
    assert create_key(admin, tenant) == ok
    assert create_key(admin, other) == denied
    assert create_tenant(admin) == denied
    assert create_key(suite.admin_token, other) == ok
    assert create_tenant(suite.admin_token) == ok


def test_a_revoked_key_is_refused_within_seconds(
    suite: RunningSuite, channel: grpc.Channel
) -> None:
    tenant = tenant_name()
    admin_token = suite.issue_key(tenant, "admin")
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    made = admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(tenant_id=tenant, role=admin_pb2.ROLE_VIEWER),
        metadata=bearer(admin_token),
    )
    assert made.token and made.api_key.id and made.token.startswith("hlc_")
    listed = admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=bearer(admin_token))
    assert made.token not in str(listed)  # shown once, never listed
    workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)

    def listing() -> grpc.StatusCode:
        request = workflow_service_pb2.ListWorkflowsRequest()
        return code_of(workflows.ListWorkflows, request, made.token)

    assert listing() == grpc.StatusCode.OK  # now in the api's cache
    admin.RevokeApiKey(
        admin_pb2.RevokeApiKeyRequest(id=made.api_key.id), metadata=bearer(admin_token)
    )
    revoked_at = time.monotonic()
    while listing() == grpc.StatusCode.OK:
        assert time.monotonic() - revoked_at < CACHE_SECONDS + 3, "revoked key still works"
        time.sleep(0.2)
    assert listing() == grpc.StatusCode.UNAUTHENTICATED


def test_the_audit_shows_each_mutation_to_its_own_tenant_only(
    suite: RunningSuite, channel: grpc.Channel
) -> None:
    ours, theirs = tenant_name(), tenant_name()
    our_admin, their_admin = suite.issue_key(ours, "admin"), suite.issue_key(theirs, "admin")
    workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    request = workflow_service_pb2.CreateWorkflowRequest(
        workflow=workflow_pb2.Workflow(tasks=[workflow_pb2.Task(id="a", type="noop")])
    )
    mine = workflows.CreateWorkflow(request, metadata=bearer(our_admin)).workflow
    workflows.CancelWorkflow(
        workflow_service_pb2.CancelWorkflowRequest(id=mine.id), metadata=bearer(our_admin)
    )
    theirs_made = workflows.CreateWorkflow(request, metadata=bearer(their_admin)).workflow
    bad = workflow_service_pb2.CreateWorkflowRequest(workflow=workflow_pb2.Workflow())
    assert code_of(workflows.CreateWorkflow, bad, our_admin) == (grpc.StatusCode.INVALID_ARGUMENT)

    seen = admin.ListAuditEvents(admin_pb2.ListAuditEventsRequest(), metadata=bearer(our_admin))
    events = [(e.action.rsplit("/", 1)[-1], e.resource, e.result) for e in seen.audit_events]
    assert events[:3] == [
        ("CreateWorkflow", "", "INVALID_ARGUMENT"),
        ("CancelWorkflow", f"workflow/{mine.id}", "OK"),
        ("CreateWorkflow", f"workflow/{mine.id}", "OK"),
    ]
    assert {e.tenant_id for e in seen.audit_events} == {ours}
    assert all(e.subject.startswith("key:") and e.create_time.seconds for e in seen.audit_events)
    assert theirs_made.id not in str(seen)
    asked_for_theirs = admin_pb2.ListAuditEventsRequest(tenant_id=theirs)
    assert code_of(admin.ListAuditEvents, asked_for_theirs, our_admin) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    platform = admin.ListAuditEvents(asked_for_theirs, metadata=bearer(suite.admin_token))
    assert {e.tenant_id for e in platform.audit_events} == {theirs}
    assert f"workflow/{theirs_made.id}" in {e.resource for e in platform.audit_events}


def test_the_local_suite_keeps_the_demo_token_while_it_works_and_replaces_it_after(
    suite: RunningSuite, channel: grpc.Channel, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _secrets_env.store(home, _secrets_env.ADMIN_TOKEN, suite.admin_token)
    first = ensure_demo_token(home, suite.api_addr)
    assert stat.S_IMODE((home / _secrets_env.SECRETS_FILE).stat().st_mode) == 0o600
    assert _secrets_env.read(home)[_secrets_env.TOKEN] == first
    assert ensure_demo_token(home, suite.api_addr) == first  # idempotent
    # Revoke that key (only it: the tenant's other keys, the suite's own among them, stay).
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    key_id = str(uuid.UUID(first.split("_")[1]))
    admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(id=key_id), metadata=bearer(first))
    second = ensure_demo_token(home, suite.api_addr)
    assert second != first and _secrets_env.read(home)[_secrets_env.TOKEN] == second
    workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    listing = workflow_service_pb2.ListWorkflowsRequest()
    assert code_of(workflows.ListWorkflows, listing, second) == grpc.StatusCode.OK

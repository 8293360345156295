"""The pure parts of the api's authentication: API key tokens and their hashes, the policy table
(every method the public server serves has a rule), which resource an audit event names, the
bearer header, JWT verification, and the cache of verified tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

from helicase.api.__main__ import SERVICES
from helicase.api.auth import keys, policy
from helicase.api.auth.authenticator import Authenticator, KeyGrant
from helicase.api.auth.interceptor import bearer_of
from helicase.api.auth.jwts import JwtSettings, JwtVerifier, role_of
from helicase.api.auth.principal import Principal, Role
from helicase.common.errors import PermissionDenied, Unauthenticated
from helicase.v1 import admin_pb2, workflow_pb2, workflow_service_pb2
from tests.jwt_keys import AUDIENCE, ISSUER, IdentityProvider


def test_a_token_names_its_key_and_only_its_hash_is_kept() -> None:
    issued = keys.new_token()
    assert issued.token.startswith(f"hlc_{issued.key_id.hex}_")
    assert keys.key_id_of(issued.token) == issued.key_id
    assert issued.sha256 == keys.token_hash(issued.token) and len(issued.sha256) == 32
    assert issued.token not in repr(issued)
    assert keys.new_token().token != issued.token
    assert keys.key_id_of("hlc_short_x") is None
    assert not keys.looks_like_jwt(issued.token)
    assert keys.looks_like_jwt("a.b.") and keys.looks_like_jwt("a.b.c")


def test_every_method_of_the_public_server_has_a_rule_and_the_table_names_no_other() -> None:
    pool = descriptor_pool.Default()
    served = {
        f"/{name}/{method.name}"
        for name in SERVICES
        for method in pool.FindServiceByName(name).methods
    }
    assert served == set(policy.POLICY)
    assert policy.is_open("/grpc.health.v1.Health/Check")
    assert policy.is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    with pytest.raises(PermissionDenied):
        policy.rule_for("/helicase.v1.Unknown/Call")  # default deny


def test_roles_reach_what_the_contract_gives_them() -> None:
    def allowed(principal: Principal, method: str) -> bool:
        try:
            policy.rule_for(method).check(principal, method)
        except PermissionDenied:
            return False
        return True

    viewer = Principal("acme", "key:v", Role.VIEWER)
    submitter = Principal("acme", "key:s", Role.SUBMITTER)
    admin = Principal("acme", "key:a", Role.ADMIN)
    platform = Principal("platform", "key:p", Role.ADMIN)
    create = "/helicase.v1.WorkflowService/CreateWorkflow"
    assert allowed(viewer, "/helicase.v1.WorkflowService/WatchWorkflow")
    assert not allowed(viewer, create) and allowed(submitter, create)
    assert not allowed(submitter, "/helicase.v1.ResourceService/CreateCredential")
    assert not allowed(submitter, "/helicase.v1.AdminService/CreateApiKey")
    assert allowed(admin, "/helicase.v1.AdminService/CreateApiKey")
    assert not allowed(admin, "/helicase.v1.AdminService/CreateTenant")
    assert allowed(platform, "/helicase.v1.AdminService/CreateTenant")
    # The internal services are not on the public port: no principal of it may call them.
    record = "/helicase.internal.v1.EventService/RecordEvents"
    assert not allowed(platform, record)
    assert {m for m, r in policy.POLICY.items() if r.mutation} >= {
        create,
        "/helicase.v1.AdminService/RevokeApiKey",
        "/helicase.v1.TemplateService/DeleteTemplate",
    }


def test_the_audited_resource_comes_from_the_response_or_the_request() -> None:
    created = workflow_service_pb2.CreateWorkflowResponse(workflow=workflow_pb2.Workflow(id="w1"))
    request = workflow_service_pb2.CreateWorkflowRequest()
    assert policy.resource_of("/x/CreateWorkflow", request, created) == "workflow/w1"
    cancel = workflow_service_pb2.CancelWorkflowRequest(id="w2")
    assert policy.resource_of("/x/CancelWorkflow", cancel, None) == "workflow/w2"
    revoke = admin_pb2.RevokeApiKeyRequest(id="k")
    assert policy.resource_of("/x/RevokeApiKey", revoke, None) == "api_key/k"
    assert policy.resource_of("/x/CreateWorkflow", request, None) == ""


def test_the_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_of((("authorization", "Bearer abc"),)) == "abc"
    assert bearer_of((("Authorization", "bearer  abc "),)) == "abc"
    assert bearer_of((("authorization", "Basic abc"),)) == ""
    assert bearer_of(None) == ""


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider.new()


@pytest.fixture(scope="module")
def verifier(idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory) -> JwtVerifier:
    jwks: Path = idp.write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json")
    return JwtVerifier(
        JwtSettings(
            issuer=ISSUER, audience=AUDIENCE, jwks=str(jwks),
            tenant_claim="helicase_tenant", role_claim="helicase_role",
        )
    )  # fmt: skip


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_jwt_signed_by_the_identity_provider_becomes_its_principal(
    idp: IdentityProvider, verifier: JwtVerifier, alg: str
) -> None:
    verified = verifier.verify(idp.token("acme", "submitter", alg))
    assert verified.principal == Principal("acme", "user-of-acme", Role.SUBMITTER)
    assert verified.expires_at > time.time()


def test_forged_expired_and_foreign_jwts_are_refused(
    idp: IdentityProvider, verifier: JwtVerifier
) -> None:
    stranger = IdentityProvider.new()
    refused = {
        "alg none": idp.unsigned("acme", "admin"),
        "hs256": idp.hs256_with_public_key("acme", "admin"),
        "expired": idp.token("acme", "admin", exp=int(time.time()) - 60),
        "issuer": idp.token("acme", "admin", iss="https://other.example.test/"),
        "audience": idp.token("acme", "admin", aud="someone-else"),
        "no tenant": idp.token("acme", "admin", helicase_tenant=""),
        "no role": idp.token("acme", "owner"),
        "other keys": stranger.token("acme", "admin"),
        "garbage": "a.b.c",
    }
    for why, token in refused.items():
        with pytest.raises(Unauthenticated):
            verifier.verify(token)
            pytest.fail(f"{why} accepted")


def test_a_role_claim_may_be_a_name_or_a_list() -> None:
    assert role_of("ROLE_ADMIN") == Role.ADMIN
    assert role_of(["viewer", "submitter"]) == Role.SUBMITTER
    assert role_of("owner") is None and role_of(None) is None


class _Keys:
    """An in-memory key table (the api keeps it in PostgreSQL: admin.store)."""

    def __init__(self) -> None:
        self.live: dict[bytes, KeyGrant] = {}
        self.lookups = 0

    async def live_key(self, sha256: bytes, now: datetime) -> KeyGrant | None:
        self.lookups += 1
        grant = self.live.get(sha256)
        if grant and grant.expire_time and grant.expire_time <= now:
            return None
        return grant


def test_verified_keys_are_cached_for_the_ttl_only() -> None:
    table, clock = _Keys(), [1000.0]
    auth = Authenticator(
        table, jwt=None, cache_seconds=5,
        clock=lambda: clock[0],
    )  # fmt: skip
    issued = keys.new_token()
    who = Principal("acme", f"key:{issued.key_id}", Role.VIEWER)
    table.live[issued.sha256] = KeyGrant(who, None)

    async def check() -> None:
        assert await auth.authenticate(issued.token) == who
        assert await auth.authenticate(issued.token) == who
        assert table.lookups == 1  # the second came from the cache
        del table.live[issued.sha256]  # revoked
        clock[0] += 6
        with pytest.raises(Unauthenticated):
            await auth.authenticate(issued.token)
        for bad in ("", "garbage", "a.b.c"):
            with pytest.raises(Unauthenticated):
                await auth.authenticate(bad)
        expiring = keys.new_token()
        soon = datetime.fromtimestamp(clock[0] + 1, UTC)
        table.live[expiring.sha256] = KeyGrant(who, soon)
        assert await auth.authenticate(expiring.token) == who
        clock[0] += 2  # past the key's expiry, within the cache TTL: not served from the cache
        with pytest.raises(Unauthenticated):
            await auth.authenticate(expiring.token)

    asyncio.run(check())
    assert issued.token not in repr(auth)

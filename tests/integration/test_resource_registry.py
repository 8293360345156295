"""The resource registry in the API (PostgreSQL): compute and storage resources, SSH
credentials sealed at rest and never returned (resolving one is the internal plane's:
tests/integration/trust/test_plane.py and the experiment tests)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncssh
import grpc
import psycopg
import pytest

from helicase import wire
from helicase.api.resources.credentials import new_master_key
from helicase.common.status import field_violations
from helicase.v1 import resource_pb2, resource_pb2_grpc

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture(scope="module")
def api(make_module_suite: Any) -> Any:
    return make_module_suite(
        ["api"],
        extra_env={"HELICASE_CREDENTIAL_KEY": new_master_key()},
    )


def compute(**over: Any) -> resource_pb2.ComputeResource:
    fields: dict[str, Any] = {
        "display_name": "cluster", "host": "127.0.0.1", "port": 2222, "login_user": "gateway",
        "batch_system": resource_pb2.BATCH_SYSTEM_SLURM, "scratch_root": "/scratch",
        "default_queue": "debug", "host_key": HOST_KEY, **over,
    }  # fmt: skip
    return resource_pb2.ComputeResource(**fields)


async def test_resources_are_stored_listed_and_idempotent_on_request_id(api: Any) -> None:
    async with wire.channel(api.api_addr, token=api.token) as channel:
        stub = resource_pb2_grpc.ResourceServiceStub(channel)
        request_id = uuid.uuid4().hex
        first = await stub.CreateComputeResource(
            resource_pb2.CreateComputeResourceRequest(
                request_id=request_id, compute_resource=compute()
            )
        )
        again = await stub.CreateComputeResource(
            resource_pb2.CreateComputeResourceRequest(
                request_id=request_id, compute_resource=compute()
            )
        )
        assert first.compute_resource.id == again.compute_resource.id
        got = await stub.GetComputeResource(
            resource_pb2.GetComputeResourceRequest(id=first.compute_resource.id)
        )
        assert got.compute_resource.host_key == HOST_KEY
        assert got.compute_resource.batch_system == resource_pb2.BATCH_SYSTEM_SLURM
        storage = await stub.CreateStorageResource(
            resource_pb2.CreateStorageResourceRequest(
                storage_resource=resource_pb2.StorageResource(
                    host="127.0.0.1", login_user="gateway", root_path="/data", host_key=HOST_KEY
                )
            )
        )
        assert storage.storage_resource.port == 22
        listed = await stub.ListStorageResources(resource_pb2.ListStorageResourcesRequest())
        assert storage.storage_resource.id in [s.id for s in listed.storage_resources]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetComputeResource(resource_pb2.GetComputeResourceRequest(id="nope"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_resources_get_field_violations_and_nothing_is_stored(api: Any) -> None:
    with psycopg.connect(api.database_url) as conn:
        before = conn.execute("select count(*) from compute_resources").fetchone()
    bad = compute(host="", port=70000, batch_system=0, scratch_root="relative", host_key="nope")
    async with wire.channel(api.api_addr, token=api.token) as channel:
        stub = resource_pb2_grpc.ResourceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateComputeResource(
                resource_pb2.CreateComputeResourceRequest(compute_resource=bad)
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(v.field for v in field_violations(info.value)) == [
        "compute_resource.batch_system",
        "compute_resource.host",
        "compute_resource.host_key",
        "compute_resource.port",
        "compute_resource.scratch_root",
    ]
    with psycopg.connect(api.database_url) as conn:
        assert conn.execute("select count(*) from compute_resources").fetchone() == before


async def test_a_private_key_is_sealed_and_never_returned(
    api: Any,
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    pem = key.export_private_key().decode()
    async with wire.channel(api.api_addr, token=api.token) as channel:
        stub = resource_pb2_grpc.ResourceServiceStub(channel)
        made = await stub.CreateCredential(
            resource_pb2.CreateCredentialRequest(
                credential=resource_pb2.Credential(display_name="gw", private_key=pem)
            )
        )
        cred = made.credential
        assert cred.private_key == ""
        assert cred.public_key.split() == key.export_public_key().decode().split()[:2]
        assert cred.fingerprint.startswith("SHA256:")
        got = await stub.GetCredential(resource_pb2.GetCredentialRequest(id=cred.id))
        assert got.credential.private_key == ""
        listed = await stub.ListCredentials(resource_pb2.ListCredentialsRequest())
        assert all(c.private_key == "" for c in listed.credentials)

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateCredential(
                resource_pb2.CreateCredentialRequest(
                    credential=resource_pb2.Credential(private_key="not a key")
                )
            )
        assert [v.field for v in field_violations(info.value)] == ["credential.private_key"]
    with psycopg.connect(api.database_url) as conn:
        sealed = conn.execute(
            "select sealed_private_key from ssh_credentials where id = %s", (cred.id,)
        ).fetchone()
    assert sealed is not None
    assert pem.encode() not in bytes(sealed[0])
    assert b"PRIVATE KEY" not in bytes(sealed[0])

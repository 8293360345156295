"""A key the web tests revoke."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import grpc

from helicase.devstack.testing import RunningSuite
from helicase.v1 import admin_pb2, admin_pb2_grpc


async def revocable_key(
    suite: RunningSuite,
) -> tuple[str, Callable[[], Coroutine[Any, Any, None]]]:
    """The token of a new viewer key of tenant `demo`, and what revokes that key."""
    name = f"web-test-{uuid.uuid4().hex[:8]}"
    key = suite.issue_key("demo", "viewer", display_name=name)
    as_admin = (("authorization", f"Bearer {suite.admin_token}"),)

    async def revoke() -> None:
        async with grpc.aio.insecure_channel(suite.api_addr) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            listed = await admin.ListApiKeys(
                admin_pb2.ListApiKeysRequest(tenant_id="demo", page_size=500), metadata=as_admin
            )
            [key_id] = [k.id for k in listed.api_keys if k.display_name == name]
            await admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(id=key_id), metadata=as_admin)

    return key, revoke

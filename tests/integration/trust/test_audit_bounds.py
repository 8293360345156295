"""An audited call carrying what PostgreSQL cannot store is still audited: a platform admin's
CreateTenant with a NUL in the id is refused, and its audit event is written with the NUL shown
as U+FFFD. Before, the event was lost ("audit event not written", found by make fuzz)."""

from __future__ import annotations

import uuid

import grpc
import pytest

from helicase.client import channel
from helicase.devstack.testing import RunningSuite
from helicase.v1 import admin_pb2, admin_pb2_grpc


async def test_a_refused_call_with_a_nul_is_audited(suite: RunningSuite) -> None:
    name = f"nul-{uuid.uuid4().hex[:8]}"
    async with channel(suite.api_addr, token=suite.admin_token) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.CreateTenant(
                admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id=f"{name}\x00"))
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        listed = await admin.ListAuditEvents(admin_pb2.ListAuditEventsRequest(page_size=100))
    resources = [e.resource for e in listed.audit_events]
    assert f"tenant/{name}\ufffd" in resources, resources[:10]

"""AdminService's handlers over admin.validation, admin.store and the audit log. The auth
interceptor has already checked the caller's role (policy table); these handlers only keep a
tenant admin to its own tenant."""

from __future__ import annotations

from helicase.api import paging
from helicase.api.admin.store import AdminStore
from helicase.api.admin.validation import (
    check_create_key,
    check_tenant,
    tenant_in_reach,
)
from helicase.api.auth import principal as principals
from helicase.api.auth.audit import AuditLog
from helicase.api.auth.authenticator import Authenticator
from helicase.api.auth.keys import new_token
from helicase.api.convert import id_of
from helicase.api.errors import Context
from helicase.api.fairuse.limits import LimitsCache, TenantLimits
from helicase.api.fairuse.store import LimitsStore
from helicase.api.fairuse.validation import check_update_limits
from helicase.common.errors import NotFound
from helicase.v1 import admin_pb2, admin_pb2_grpc


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: AdminStore,
        audit: AuditLog,
        authenticator: Authenticator,
        limits: tuple[LimitsStore, LimitsCache],
    ) -> None:
        self._store = store
        self._audit = audit
        self._authenticator = authenticator
        self._limits, self._limits_cache = limits

    async def CreateTenant(
        self, request: admin_pb2.CreateTenantRequest, context: Context
    ) -> admin_pb2.CreateTenantResponse:
        check_tenant(request.tenant)
        tenant = await self._store.create_tenant(request.tenant.id, request.tenant.display_name)
        return admin_pb2.CreateTenantResponse(tenant=tenant)

    async def ListTenants(
        self, request: admin_pb2.ListTenantsRequest, context: Context
    ) -> admin_pb2.ListTenantsResponse:
        caller = principals.current()
        page = paging.page_request(request.page_size, request.page_token)
        only = None if caller.platform_admin else caller.tenant
        items, token = await self._store.list_tenants(page, only)
        return admin_pb2.ListTenantsResponse(tenants=items, next_page_token=token)

    async def CreateApiKey(
        self, request: admin_pb2.CreateApiKeyRequest, context: Context
    ) -> admin_pb2.CreateApiKeyResponse:
        ttl = check_create_key(request)
        tenant = tenant_in_reach(principals.current(), request.tenant_id)
        if not await self._store.tenant_exists(tenant):
            raise NotFound(f"tenant {tenant!r} not found")
        issued = new_token()
        key = await self._store.create_key(
            issued,
            tenant_id=tenant,
            role=request.role,
            display_name=request.display_name,
            ttl=ttl,
        )
        return admin_pb2.CreateApiKeyResponse(api_key=key, token=issued.token)

    async def ListApiKeys(
        self, request: admin_pb2.ListApiKeysRequest, context: Context
    ) -> admin_pb2.ListApiKeysResponse:
        tenant = tenant_in_reach(principals.current(), request.tenant_id)
        page = paging.page_request(request.page_size, request.page_token)
        items, token = await self._store.list_keys(tenant, page)
        return admin_pb2.ListApiKeysResponse(api_keys=items, next_page_token=token)

    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: Context
    ) -> admin_pb2.RevokeApiKeyResponse:
        caller = principals.current()
        key_id = id_of(request.id, "API key")
        key = await self._store.revoke_key(key_id, None if caller.platform_admin else caller.tenant)
        self._authenticator.forget_all()  # refused here at once, elsewhere within the cache TTL
        return admin_pb2.RevokeApiKeyResponse(api_key=key)

    async def ListAuditEvents(
        self, request: admin_pb2.ListAuditEventsRequest, context: Context
    ) -> admin_pb2.ListAuditEventsResponse:
        caller = principals.current()
        page = paging.page_request(request.page_size, request.page_token)
        if caller.platform_admin and not request.tenant_id:
            tenant = None  # a platform admin sees every tenant's events unless it names one
        else:
            tenant = tenant_in_reach(caller, request.tenant_id)
        items, token = await self._audit.list(tenant, page)
        return admin_pb2.ListAuditEventsResponse(audit_events=items, next_page_token=token)

    async def GetTenantLimits(
        self, request: admin_pb2.GetTenantLimitsRequest, context: Context
    ) -> admin_pb2.GetTenantLimitsResponse:
        tenant = tenant_in_reach(principals.current(), request.tenant_id)
        if not await self._store.tenant_exists(tenant):
            raise NotFound(f"tenant {tenant!r} not found")
        overrides = await self._limits.overrides(tenant)
        return admin_pb2.GetTenantLimitsResponse(
            tenant_limits=overrides.message(tenant),
            effective_limits=overrides.over(self._limits_cache.defaults).message(tenant),
        )

    async def UpdateTenantLimits(
        self, request: admin_pb2.UpdateTenantLimitsRequest, context: Context
    ) -> admin_pb2.UpdateTenantLimitsResponse:
        paths = check_update_limits(request)
        tenant = request.tenant_limits.tenant_id
        if not await self._store.tenant_exists(tenant):
            raise NotFound(f"tenant {tenant!r} not found")
        current = await self._limits.overrides(tenant)
        limits: TenantLimits = current.updated(request.tenant_limits, paths)
        await self._limits.set_overrides(tenant, limits)
        self._limits_cache.forget(tenant)  # here at once; other replicas within the cache TTL
        return admin_pb2.UpdateTenantLimitsResponse(tenant_limits=limits.message(tenant))

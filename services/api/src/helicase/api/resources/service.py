"""ResourceService's handlers (compute and storage resources, SSH credentials) and the internal
CredentialSecretService participants fetch private keys from."""

from __future__ import annotations

import logging
from typing import Protocol

import grpc

from helicase.api import paging
from helicase.api.auth.audit import AuditLog
from helicase.api.auth.principal import Principal, Role
from helicase.api.errors import Context
from helicase.api.resources.holders import TaskHolders, check_holder
from helicase.api.resources.rotation import rotate
from helicase.api.resources.store import ResourceStore
from helicase.api.resources.validation import (
    validate_compute,
    validate_credential,
    validate_storage,
)
from helicase.common import tls
from helicase.common.errors import PermissionDenied
from helicase.internal.v1 import credential_secret_pb2, credential_secret_pb2_grpc
from helicase.v1 import resource_pb2, resource_pb2_grpc

log = logging.getLogger(__name__)


class _ListRequest(Protocol):
    page_size: int
    page_token: str


def _page(request: _ListRequest) -> paging.Page:
    return paging.page_request(request.page_size, request.page_token)


class ResourceService(resource_pb2_grpc.ResourceServiceServicer):
    def __init__(self, store: ResourceStore) -> None:
        self._store = store

    async def CreateComputeResource(
        self, request: resource_pb2.CreateComputeResourceRequest, context: Context
    ) -> resource_pb2.CreateComputeResourceResponse:
        validate_compute(request)
        made = await self._store.create_compute(request.request_id, request.compute_resource)
        return resource_pb2.CreateComputeResourceResponse(compute_resource=made)

    async def GetComputeResource(
        self, request: resource_pb2.GetComputeResourceRequest, context: Context
    ) -> resource_pb2.GetComputeResourceResponse:
        found = await self._store.get_compute(request.id)
        return resource_pb2.GetComputeResourceResponse(compute_resource=found)

    async def ListComputeResources(
        self, request: resource_pb2.ListComputeResourcesRequest, context: Context
    ) -> resource_pb2.ListComputeResourcesResponse:
        items, token = await self._store.list_compute(_page(request))
        return resource_pb2.ListComputeResourcesResponse(
            compute_resources=items, next_page_token=token
        )

    async def CreateStorageResource(
        self, request: resource_pb2.CreateStorageResourceRequest, context: Context
    ) -> resource_pb2.CreateStorageResourceResponse:
        validate_storage(request)
        made = await self._store.create_storage(request.request_id, request.storage_resource)
        return resource_pb2.CreateStorageResourceResponse(storage_resource=made)

    async def GetStorageResource(
        self, request: resource_pb2.GetStorageResourceRequest, context: Context
    ) -> resource_pb2.GetStorageResourceResponse:
        found = await self._store.get_storage(request.id)
        return resource_pb2.GetStorageResourceResponse(storage_resource=found)

    async def ListStorageResources(
        self, request: resource_pb2.ListStorageResourcesRequest, context: Context
    ) -> resource_pb2.ListStorageResourcesResponse:
        items, token = await self._store.list_storage(_page(request))
        return resource_pb2.ListStorageResourcesResponse(
            storage_resources=items, next_page_token=token
        )

    async def CreateCredential(
        self, request: resource_pb2.CreateCredentialRequest, context: Context
    ) -> resource_pb2.CreateCredentialResponse:
        validate_credential(request)
        made = await self._store.create_credential(request.request_id, request.credential)
        return resource_pb2.CreateCredentialResponse(credential=made)

    async def GetCredential(
        self, request: resource_pb2.GetCredentialRequest, context: Context
    ) -> resource_pb2.GetCredentialResponse:
        found = await self._store.get_credential(request.id)
        return resource_pb2.GetCredentialResponse(credential=found)

    async def ListCredentials(
        self, request: resource_pb2.ListCredentialsRequest, context: Context
    ) -> resource_pb2.ListCredentialsResponse:
        items, token = await self._store.list_credentials(_page(request))
        return resource_pb2.ListCredentialsResponse(credentials=items, next_page_token=token)

    async def RotateCredentialKey(
        self, request: resource_pb2.RotateCredentialKeyRequest, context: Context
    ) -> resource_pb2.RotateCredentialKeyResponse:
        done = await rotate(self._store.engine, self._store.keys())
        log.info(
            "credential key rotated",
            extra={
                "key_id": done.key_id,
                "resealed": done.resealed,
                "current": done.current,
                "unreadable": done.unreadable,
            },
        )
        return resource_pb2.RotateCredentialKeyResponse(
            key_id=done.key_id,
            resealed_count=done.resealed,
            current_count=done.current,
            unreadable_count=done.unreadable,
        )


class CredentialSecretService(credential_secret_pb2_grpc.CredentialSecretServiceServicer):
    """Internal (the api's internal listener, participant certificates only): a participant
    fetches a private key for a task placement it holds now whose params name the credential."""

    def __init__(self, store: ResourceStore, holders: TaskHolders, audit: AuditLog) -> None:
        self._store = store
        self._holders = holders
        self._audit = audit

    async def ResolveCredential(
        self, request: credential_secret_pb2.ResolveCredentialRequest, context: Context
    ) -> credential_secret_pb2.ResolveCredentialResponse:
        identity = tls.peer_identity(context)
        placement = request.task
        try:
            holder = await self._holders.holder(placement.workflow_id, placement.task_id)
        except ConnectionError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        try:
            check_holder(identity, request.id, placement, holder)
        except PermissionDenied:
            tenant = await self._store.credential_tenant(request.id)
            await self._record(identity, request, tenant, allowed=False)
            raise
        tenant, key = await self._store.private_key(request.id)
        await self._record(identity, request, tenant, allowed=True)
        return credential_secret_pb2.ResolveCredentialResponse(id=request.id, private_key=key)

    async def _record(
        self,
        identity: tls.Identity,
        request: credential_secret_pb2.ResolveCredentialRequest,
        tenant: str | None,
        *,
        allowed: bool,
    ) -> None:
        """Records a resolution in the audit trail of the credential's `tenant` (None: no such
        credential) — who, which credential, whether it was given — and, with the task
        placement, in the log."""
        if tenant is not None:
            who = Principal(tenant=tenant, subject=identity.subject, role=Role.VIEWER)
            await self._audit.record(
                who,
                RESOLVE_ACTION,
                f"credential/{request.id}",
                "OK" if allowed else "PERMISSION_DENIED",
            )
        log_resolution(identity, request, allowed=allowed)


RESOLVE_ACTION = "/helicase.internal.v1.CredentialSecretService/ResolveCredential"


def log_resolution(
    identity: tls.Identity,
    request: credential_secret_pb2.ResolveCredentialRequest,
    *,
    allowed: bool,
) -> None:
    ref = request.task
    log.info(
        "credential resolution",
        extra={
            "subject": identity.subject,
            "credential_id": request.id,
            "workflow_id": ref.workflow_id,
            "task_id": ref.task_id,
            "attempt": ref.attempt,
            "placement": ref.placement,
            "result": "allowed" if allowed else "denied",
        },
    )

"""gRPC handlers of the resource registry (ResourceService) and of the internal
CredentialSecretService, and their configuration. No SQL here."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from helicase.api.credentials import CredentialCipher, parse_master_key
from helicase.api.handlers import MAX_PAGE, _guard
from helicase.api.resource_store import ResourceStore
from helicase.api.resource_validation import (
    validate_compute,
    validate_credential,
    validate_storage,
)
from helicase.common.config import env_str
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import resource_pb2, resource_pb2_grpc

DEFAULT_PAGE = 50


@dataclass(frozen=True, kw_only=True)
class RegistryConfig:
    """HELICASE_CREDENTIAL_KEY: 32 bytes, base64, that seal SSH private keys at rest (unset:
    credentials are refused with FAILED_PRECONDITION).
    HELICASE_INTERNAL_TOKEN: the shared token participants present to CredentialSecretService
    (unset: that service refuses every call)."""

    cipher: CredentialCipher | None
    internal_token: str

    @classmethod
    def from_env(cls) -> RegistryConfig:
        raw = env_str("HELICASE_CREDENTIAL_KEY", "")
        return cls(
            cipher=CredentialCipher(parse_master_key(raw)) if raw else None,
            internal_token=env_str("HELICASE_INTERNAL_TOKEN", ""),
        )


def _page(page_size: int) -> int:
    if page_size < 0 or page_size > MAX_PAGE:
        raise InvalidArgument([FieldViolation("page_size", f"must be 0..{MAX_PAGE}")])
    return page_size or DEFAULT_PAGE


Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class ResourceService(resource_pb2_grpc.ResourceServiceServicer):
    def __init__(self, store: ResourceStore) -> None:
        self._store = store

    async def CreateComputeResource(
        self, request: resource_pb2.CreateComputeResourceRequest, context: Context
    ) -> resource_pb2.CreateComputeResourceResponse:
        async def body() -> resource_pb2.CreateComputeResourceResponse:
            validate_compute(request)
            made = await self._store.create_compute(request.request_id, request.compute_resource)
            return resource_pb2.CreateComputeResourceResponse(compute_resource=made)

        return await _guard(context, body)

    async def GetComputeResource(
        self, request: resource_pb2.GetComputeResourceRequest, context: Context
    ) -> resource_pb2.GetComputeResourceResponse:
        async def body() -> resource_pb2.GetComputeResourceResponse:
            found = await self._store.get_compute(request.id)
            return resource_pb2.GetComputeResourceResponse(compute_resource=found)

        return await _guard(context, body)

    async def ListComputeResources(
        self, request: resource_pb2.ListComputeResourcesRequest, context: Context
    ) -> resource_pb2.ListComputeResourcesResponse:
        async def body() -> resource_pb2.ListComputeResourcesResponse:
            items, token = await self._store.list_compute(
                _page(request.page_size), request.page_token
            )
            return resource_pb2.ListComputeResourcesResponse(
                compute_resources=items, next_page_token=token
            )

        return await _guard(context, body)

    async def CreateStorageResource(
        self, request: resource_pb2.CreateStorageResourceRequest, context: Context
    ) -> resource_pb2.CreateStorageResourceResponse:
        async def body() -> resource_pb2.CreateStorageResourceResponse:
            validate_storage(request)
            made = await self._store.create_storage(request.request_id, request.storage_resource)
            return resource_pb2.CreateStorageResourceResponse(storage_resource=made)

        return await _guard(context, body)

    async def GetStorageResource(
        self, request: resource_pb2.GetStorageResourceRequest, context: Context
    ) -> resource_pb2.GetStorageResourceResponse:
        async def body() -> resource_pb2.GetStorageResourceResponse:
            found = await self._store.get_storage(request.id)
            return resource_pb2.GetStorageResourceResponse(storage_resource=found)

        return await _guard(context, body)

    async def ListStorageResources(
        self, request: resource_pb2.ListStorageResourcesRequest, context: Context
    ) -> resource_pb2.ListStorageResourcesResponse:
        async def body() -> resource_pb2.ListStorageResourcesResponse:
            items, token = await self._store.list_storage(
                _page(request.page_size), request.page_token
            )
            return resource_pb2.ListStorageResourcesResponse(
                storage_resources=items, next_page_token=token
            )

        return await _guard(context, body)

    async def CreateCredential(
        self, request: resource_pb2.CreateCredentialRequest, context: Context
    ) -> resource_pb2.CreateCredentialResponse:
        async def body() -> resource_pb2.CreateCredentialResponse:
            validate_credential(request)
            made = await self._store.create_credential(request.request_id, request.credential)
            return resource_pb2.CreateCredentialResponse(credential=made)

        return await _guard(context, body)

    async def GetCredential(
        self, request: resource_pb2.GetCredentialRequest, context: Context
    ) -> resource_pb2.GetCredentialResponse:
        async def body() -> resource_pb2.GetCredentialResponse:
            found = await self._store.get_credential(request.id)
            return resource_pb2.GetCredentialResponse(credential=found)

        return await _guard(context, body)

    async def ListCredentials(
        self, request: resource_pb2.ListCredentialsRequest, context: Context
    ) -> resource_pb2.ListCredentialsResponse:
        async def body() -> resource_pb2.ListCredentialsResponse:
            items, token = await self._store.list_credentials(
                _page(request.page_size), request.page_token
            )
            return resource_pb2.ListCredentialsResponse(credentials=items, next_page_token=token)

        return await _guard(context, body)


def bearer_token(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return ""


class CredentialSecretService(resource_pb2_grpc.CredentialSecretServiceServicer):
    """Internal: participants fetch a private key with the shared token."""

    def __init__(self, store: ResourceStore, token: str) -> None:
        self._store = store
        self._token = token

    async def ResolveCredential(
        self, request: resource_pb2.ResolveCredentialRequest, context: Context
    ) -> resource_pb2.ResolveCredentialResponse:
        presented = bearer_token(context)
        if not self._token or not hmac.compare_digest(presented.encode(), self._token.encode()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "internal token required")

        async def body() -> resource_pb2.ResolveCredentialResponse:
            key = await self._store.private_key(request.id)
            return resource_pb2.ResolveCredentialResponse(id=request.id, private_key=key)

        return await _guard(context, body)

"""The client of the API's credential secrets: participants fetch private keys from the API's
CredentialSecretService over gRPC, authenticated by the shared token HELICASE_INTERNAL_TOKEN; the
API is at HELICASE_API_ADDR."""

from __future__ import annotations

import grpc

from helicase.common.config import API_ADDR, INTERNAL_TOKEN
from helicase.common.errors import NonRetryableError
from helicase.internal.v1 import credential_secret_pb2, credential_secret_pb2_grpc

CALL_TIMEOUT = 10.0
FATAL_CODES = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
)


class ApiCredentials:
    """Fetches private keys from the API, one call per connection (keys stay in memory only
    while a task connects)."""

    def __init__(self, api_addr: str, token: str) -> None:
        self.api_addr = api_addr
        self.token = token
        self._channel: grpc.aio.Channel | None = None

    @classmethod
    def from_env(cls) -> ApiCredentials:
        return cls(API_ADDR.read(), INTERNAL_TOKEN.read())

    async def private_key(self, credential_id: str) -> str:
        if not self.token:
            raise NonRetryableError("HELICASE_INTERNAL_TOKEN is not set on this participant")
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.api_addr)
        stub = credential_secret_pb2_grpc.CredentialSecretServiceStub(self._channel)
        try:
            reply = await stub.ResolveCredential(
                credential_secret_pb2.ResolveCredentialRequest(id=credential_id),
                metadata=(("authorization", f"Bearer {self.token}"),),
                timeout=CALL_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            message = f"credential {credential_id}: {exc.code().name} {exc.details()}"
            if exc.code() in FATAL_CODES:
                raise NonRetryableError(message) from None
            raise ConnectionError(message) from None  # the API is away: retried
        return str(reply.private_key)

"""The client of the API's credential secrets: participants fetch private keys from the API's
CredentialSecretService on its internal listener (HELICASE_API_INTERNAL_ADDR), over mutual TLS
with their own certificate, naming the task placement they run; the api resolves a credential
only for the participant that holds that placement and only when the task names it."""

from __future__ import annotations

import grpc

from helicase.common import tls
from helicase.common.config import API_INTERNAL_ADDR
from helicase.common.errors import NonRetryableError
from helicase.internal.v1 import credential_secret_pb2, credential_secret_pb2_grpc
from helicase.participant.sdk import RUNNING_TASK

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

    def __init__(self, api_addr: str, files: tls.TlsFiles) -> None:
        self.api_addr = api_addr
        self._files = files
        self._channel: grpc.aio.Channel | None = None

    @classmethod
    def from_env(cls) -> ApiCredentials:
        return cls(API_INTERNAL_ADDR.read(), tls.TlsFiles.from_env())

    async def private_key(self, credential_id: str) -> str:
        task = RUNNING_TASK.get()
        if task is None:
            raise NonRetryableError("a credential is resolved only for a task running here")
        if self._channel is None:
            self._channel = tls.channel(self.api_addr, self._files, "api")
        stub = credential_secret_pb2_grpc.CredentialSecretServiceStub(self._channel)
        try:
            reply = await stub.ResolveCredential(
                credential_secret_pb2.ResolveCredentialRequest(id=credential_id, task=task),
                timeout=CALL_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            message = f"credential {credential_id}: {exc.code().name} {exc.details()}"
            if exc.code() in FATAL_CODES:
                raise NonRetryableError(message) from None
            raise ConnectionError(message) from None  # the API is away: retried
        return str(reply.private_key)

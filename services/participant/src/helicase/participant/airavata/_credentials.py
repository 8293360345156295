"""Where the SSH private keys come from: the API's credential secrets (an internal call over
mutual TLS with the participant's certificate, for the task it runs), or any store a test or an
embedding installs."""

from __future__ import annotations

from typing import Protocol

from helicase.common.errors import NonRetryableError


class CredentialStore(Protocol):
    async def private_key(self, credential_id: str) -> str:
        """The OpenSSH/PEM private key of `credential_id`; NonRetryableError if unknown."""
        ...


class StaticCredentials:
    """Keys given in advance (tests, single-user set-ups)."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = dict(keys)

    async def private_key(self, credential_id: str) -> str:
        try:
            return self.keys[credential_id]
        except KeyError:
            raise NonRetryableError(f"unknown credential {credential_id}") from None


_store: CredentialStore | None = None


def use_credential_store(store: CredentialStore | None) -> None:
    """Installs `store` (None: back to the API's credential secrets)."""
    global _store
    _store = store


def credential_store() -> CredentialStore:
    if _store is None:
        from helicase.participant.airavata._credential_client import ApiCredentials

        use_credential_store(ApiCredentials.from_env())
    assert _store is not None
    return _store

"""The API's credential registry, as the participants reach it (filled in with the registry)."""

from __future__ import annotations

from helicase.common.errors import NonRetryableError


class ApiCredentials:
    """Not wired yet: every lookup fails for good."""

    @classmethod
    def from_env(cls) -> ApiCredentials:
        return cls()

    async def private_key(self, credential_id: str) -> str:
        raise NonRetryableError(f"no credential store configured for {credential_id}")

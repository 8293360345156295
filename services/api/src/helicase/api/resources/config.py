"""Configuration of the resource and credential services."""

from __future__ import annotations

from dataclasses import dataclass

from helicase.api.resources.credentials import CredentialCipher, parse_master_key
from helicase.common.config import env_str


@dataclass(frozen=True, kw_only=True)
class CredentialConfig:
    """HELICASE_CREDENTIAL_KEY: 32 bytes, base64, that seal SSH private keys at rest (unset:
    credentials are refused with FAILED_PRECONDITION).
    HELICASE_INTERNAL_TOKEN: the shared token participants present to CredentialSecretService
    (unset: that service refuses every call)."""

    cipher: CredentialCipher | None
    internal_token: str

    @classmethod
    def from_env(cls) -> CredentialConfig:
        raw = env_str("HELICASE_CREDENTIAL_KEY", "")
        return cls(
            cipher=CredentialCipher(parse_master_key(raw)) if raw else None,
            internal_token=env_str("HELICASE_INTERNAL_TOKEN", ""),
        )

"""Configuration of the resource and credential services."""

from __future__ import annotations

from dataclasses import dataclass

from helicase.api.config import ApiConfig
from helicase.api.resources.credentials import CredentialCipher, parse_master_key


@dataclass(frozen=True, kw_only=True)
class CredentialConfig:
    """The cipher of HELICASE_CREDENTIAL_KEY (None when unset: credentials are refused with
    FAILED_PRECONDITION)."""

    cipher: CredentialCipher | None

    @classmethod
    def of(cls, config: ApiConfig) -> CredentialConfig:
        raw = config.credential_key
        return cls(cipher=CredentialCipher(parse_master_key(raw)) if raw else None)

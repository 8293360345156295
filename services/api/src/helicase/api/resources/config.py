"""Configuration of the resource and credential services."""

from __future__ import annotations

from dataclasses import dataclass

from helicase.api.config import ApiConfig
from helicase.api.resources.credentials import CredentialKeyring, parse_keyring


@dataclass(frozen=True, kw_only=True)
class CredentialConfig:
    """The keys of HELICASE_CREDENTIAL_KEY (None when unset: credentials are refused with
    FAILED_PRECONDITION)."""

    keyring: CredentialKeyring | None

    @classmethod
    def of(cls, config: ApiConfig) -> CredentialConfig:
        raw = config.credential_key
        return cls(keyring=parse_keyring(raw) if raw else None)

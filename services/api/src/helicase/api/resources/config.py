"""Configuration of the resource and credential services."""

from __future__ import annotations

from dataclasses import dataclass, field

from helicase.api.config import ApiConfig
from helicase.api.resources.credentials import CredentialCipher, parse_master_key


@dataclass(frozen=True, kw_only=True)
class CredentialConfig:
    """The cipher of HELICASE_CREDENTIAL_KEY (None when unset: credentials are refused with
    FAILED_PRECONDITION) and HELICASE_INTERNAL_TOKEN, the shared token participants present to
    CredentialSecretService (empty: that service refuses every call)."""

    cipher: CredentialCipher | None
    internal_token: str = field(repr=False)  # a secret: never in a log line

    @classmethod
    def of(cls, config: ApiConfig) -> CredentialConfig:
        raw = config.credential_key
        return cls(
            cipher=CredentialCipher(parse_master_key(raw)) if raw else None,
            internal_token=config.internal_token,
        )

"""API keys' tokens: `hlc_<key id>_<secret>`, made from `secrets`, shown once and stored only as
their SHA-256. Pure: no I/O here (helicase.api.admin.store keeps the hashes)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field

PREFIX = "hlc_"
SECRET_BYTES = 32
_FORMAT = re.compile(r"^hlc_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
MIN_ADMIN_TOKEN = 32
"""The shortest HELICASE_ADMIN_TOKEN accepted (it may be any string an operator generates)."""


@dataclass(frozen=True)
class IssuedToken:
    """A new key's id and its token; the token is shown once and never logged."""

    key_id: uuid.UUID
    token: str = field(repr=False)

    @property
    def sha256(self) -> bytes:
        return token_hash(self.token)


def new_token() -> IssuedToken:
    """A fresh key id and token `hlc_<id, 32 hex digits>_<secret>` (256 bits of secret): the
    id in the token tells which key a leaked token is, the secret makes it unguessable."""
    key_id = uuid.uuid4()
    return IssuedToken(key_id, f"{PREFIX}{key_id.hex}_{secrets.token_urlsafe(SECRET_BYTES)}")


def key_id_of(token: str) -> uuid.UUID | None:
    """The key id a well-formed issued token names, or None."""
    match = _FORMAT.match(token)
    return uuid.UUID(match.group(1)) if match else None


def token_hash(token: str) -> bytes:
    """What is stored of a token: SHA-256 of its bytes. (A token has 256 bits of entropy, so a
    fast hash is enough: nothing can be guessed from it.)"""
    return hashlib.sha256(token.encode()).digest()


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts (header.payload.signature; the signature may be
    empty, as in an `alg: none` token, which the verifier then refuses)."""
    return token.count(".") == 2 and not token.startswith(PREFIX)

"""Session ids and the key a session holds: pure, no I/O.

A session id is 256 random bits, known only to the browser (in an HttpOnly cookie). The server
stores a hash of it (to find the row) and the caller's token sealed with AES-GCM under a key
derived from the id, so the table alone yields neither a usable cookie nor the token."""

from __future__ import annotations

import hashlib
import re
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from helicase.api.resources.credentials import CredentialCipher, CredentialKeyError

COOKIE = "helicase_session"
_ID_BYTES = 32
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# What a bearer token may hold: visible ASCII, no spaces (it travels in a header).
_TOKEN_SHAPE = re.compile(r"^[\x21-\x7e]{1,8192}$")


def new_session_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


def well_formed_id(session_id: str) -> bool:
    return bool(_ID_SHAPE.match(session_id))


def well_formed_token(token: str) -> bool:
    return bool(_TOKEN_SHAPE.match(token))


def lookup_key(session_id: str) -> bytes:
    """What the server stores to find a session: SHA-256 of its id."""
    return hashlib.sha256(b"helicase-session-lookup\0" + session_id.encode()).digest()


def _cipher(session_id: str) -> CredentialCipher:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"helicase-session-seal"
    ).derive(session_id.encode())
    return CredentialCipher(key)


def seal_token(session_id: str, token: str) -> bytes:
    """`token` sealed under a key only the holder of `session_id` can derive."""
    return _cipher(session_id).seal(lookup_key(session_id).hex(), token)


def open_token(session_id: str, sealed: bytes) -> str | None:
    """The token a session holds, or None when `sealed` does not open with this id."""
    try:
        return _cipher(session_id).open(lookup_key(session_id).hex(), sealed)
    except CredentialKeyError:
        return None

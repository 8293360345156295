"""SSH credentials at rest: private keys sealed with AES-256-GCM under the newest key of
HELICASE_CREDENTIAL_KEY (ids and 32-byte keys, base64), bound to the credential's id and naming
the key's id, and the public facts (public key, fingerprint) derived from a private key. Pure;
no I/O."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
VERSION = b"\x01"
KEYED = b"\x02"  # a sealed key that names the key that sealed it: KEYED, id length, id, sealed
DEFAULT_KEY_ID = "default"  # the id of a key given without one
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class CredentialKeyError(ValueError):
    """HELICASE_CREDENTIAL_KEY is missing or malformed, or a sealed key does not open."""


def parse_master_key(raw: str) -> bytes:
    """The 32-byte key from its base64 text (standard or URL-safe alphabet)."""
    text = raw.strip()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            key = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise CredentialKeyError("HELICASE_CREDENTIAL_KEY must be 32 bytes, base64-encoded")


def new_master_key() -> str:
    """A fresh key for HELICASE_CREDENTIAL_KEY."""
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class CredentialCipher:
    """Seals and opens private keys; the credential id is authenticated data, so a sealed key
    copied onto another credential's row does not open."""

    key: bytes

    def seal(self, credential_id: str, private_key: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, private_key.encode(), credential_id.encode())
        return VERSION + nonce + sealed

    def open(self, credential_id: str, blob: bytes) -> str:
        if blob[:1] != VERSION:
            raise CredentialKeyError("unknown sealed-key format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = AESGCM(self.key).decrypt(nonce, sealed, credential_id.encode())
        except InvalidTag:
            raise CredentialKeyError("credential does not open with this key") from None
        return plain.decode()


@dataclass(frozen=True)
class CredentialKeyring:
    """The credential keys in force, newest first: the newest seals, any of them opens what it
    sealed (a sealed key names its key's id). Older keys stay configured until
    `helicase admin rotate-credential-key` has re-sealed everything under the newest."""

    keys: tuple[tuple[str, CredentialCipher], ...]

    @property
    def current(self) -> str:
        """The id of the key that seals."""
        return self.keys[0][0]

    def seal(self, credential_id: str, private_key: str) -> bytes:
        key_id, cipher = self.keys[0]
        sealed = cipher.seal(credential_id, private_key)
        return KEYED + bytes([len(key_id)]) + key_id.encode() + sealed

    def open(self, credential_id: str, blob: bytes) -> str:
        key_id = sealed_with(blob)
        if key_id is None:  # sealed before keys had ids: whichever key opens it
            for _, cipher in self.keys:
                try:
                    return cipher.open(credential_id, blob)
                except CredentialKeyError:
                    continue
            raise CredentialKeyError("credential does not open with any configured key")
        keyed = dict(self.keys).get(key_id)
        if keyed is None:
            raise CredentialKeyError(f"credential sealed with key {key_id!r}, not configured")
        return keyed.open(credential_id, blob[2 + len(key_id.encode()) :])


def sealed_with(blob: bytes) -> str | None:
    """The id of the key that sealed `blob` (None: sealed before keys had ids)."""
    if blob[:1] != KEYED:
        return None
    length = blob[1] if len(blob) > 1 else 0
    return blob[2 : 2 + length].decode("ascii", errors="replace")


def parse_keyring(raw: str) -> CredentialKeyring:
    """HELICASE_CREDENTIAL_KEY: `id:base64key` entries separated by commas, newest (the one
    that seals) first; a lone key without an id has the id "default"."""
    keys: list[tuple[str, CredentialCipher]] = []
    for entry in (part.strip() for part in raw.split(",")):
        key_id, sep, text = entry.partition(":")  # base64 has no ':'
        key_id, text = (key_id.strip(), text) if sep else (DEFAULT_KEY_ID, key_id)
        if not KEY_ID.match(key_id):
            raise CredentialKeyError(
                "HELICASE_CREDENTIAL_KEY: each key is id:base64 (an id of letters, digits, '.',"
                " '_' or '-', at most 32)"
            )
        if key_id in dict(keys):
            raise CredentialKeyError(f"HELICASE_CREDENTIAL_KEY: key id {key_id!r} given twice")
        keys.append((key_id, CredentialCipher(parse_master_key(text))))
    if not keys:
        raise CredentialKeyError("HELICASE_CREDENTIAL_KEY has no key")
    return CredentialKeyring(tuple(keys))


@dataclass(frozen=True)
class PublicFacts:
    public_key: str
    fingerprint: str


def public_facts(private_key: str) -> PublicFacts:
    """The OpenSSH public key and SHA-256 fingerprint of an unencrypted private key (OpenSSH or
    PEM); ValueError when it is not one."""
    data = private_key.encode()
    key: object
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted private key: {exc}") from None
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise ValueError("key type not usable for SSH (ed25519, RSA or ECDSA)")
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(public.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return PublicFacts(public_key=public.decode(), fingerprint=fingerprint)


def host_key_problem(host_key: str) -> str | None:
    """Why `host_key` is not an OpenSSH public key line, or None."""
    try:
        serialization.load_ssh_public_key(" ".join(host_key.split()[:2]).encode())
    except (ValueError, IndexError, TypeError):
        return 'must be an OpenSSH public key ("ssh-ed25519 AAAA...")'
    except Exception:  # cryptography raises UnsupportedAlgorithm for unknown types
        return "key type not supported"
    return None

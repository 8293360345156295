"""Sealing SSH private keys at rest (AES-256-GCM bound to the credential id)."""

from __future__ import annotations

import asyncssh
import pytest

from helicase.api.resources.credentials import (
    CredentialCipher,
    CredentialKeyError,
    host_key_problem,
    new_master_key,
    parse_master_key,
    public_facts,
)


def test_a_sealed_key_opens_only_with_its_id_and_master_key() -> None:
    cipher = CredentialCipher(parse_master_key(new_master_key()))
    sealed = cipher.seal("cred-1", "secret")
    assert b"secret" not in sealed
    assert cipher.open("cred-1", sealed) == "secret"
    with pytest.raises(CredentialKeyError):
        cipher.open("cred-2", sealed)
    with pytest.raises(CredentialKeyError):
        CredentialCipher(parse_master_key(new_master_key())).open("cred-1", sealed)


def test_master_keys_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(CredentialKeyError):
        parse_master_key("c2hvcnQ=")


def test_public_facts_match_openssh() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    facts = public_facts(key.export_private_key().decode())
    assert facts.public_key.split() == key.export_public_key().decode().split()[:2]
    assert facts.fingerprint == key.get_fingerprint("sha256")
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    assert public_facts(rsa.export_private_key("pkcs8-pem").decode()).public_key.startswith(
        "ssh-rsa "
    )
    with pytest.raises(ValueError):
        public_facts("garbage")


def test_host_keys_are_checked() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    assert host_key_problem(key) is None
    assert host_key_problem("ssh-ed25519 nope") is not None

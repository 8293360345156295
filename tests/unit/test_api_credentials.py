"""Sealing SSH private keys at rest (AES-256-GCM bound to the credential id)."""

from __future__ import annotations

import asyncssh
import pytest

from helicase.api.resources.credentials import (
    CredentialCipher,
    CredentialKeyError,
    host_key_problem,
    new_master_key,
    parse_keyring,
    parse_master_key,
    public_facts,
    sealed_with,
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


def test_the_newest_key_seals_and_each_key_opens_what_it_sealed() -> None:
    old, new = f"old:{new_master_key()}", f"new:{new_master_key()}"
    before = parse_keyring(old).seal("cred-1", "secret")
    ring = parse_keyring(f"{new}, {old}")
    assert ring.current == "new" and sealed_with(before) == "old"
    assert ring.open("cred-1", before) == "secret"
    after = ring.seal("cred-1", "secret")
    assert sealed_with(after) == "new" and parse_keyring(new).open("cred-1", after) == "secret"
    with pytest.raises(CredentialKeyError, match="'new', not configured"):
        parse_keyring(old).open("cred-1", after)
    with pytest.raises(CredentialKeyError):
        ring.open("cred-2", after)  # still bound to its credential


def test_a_key_sealed_before_keys_had_ids_opens_with_whichever_key_sealed_it() -> None:
    raw = new_master_key()
    legacy = CredentialCipher(parse_master_key(raw)).seal("cred-1", "secret")
    assert sealed_with(legacy) is None
    ring = parse_keyring(f"k2:{new_master_key()},{raw}")  # the old key, without an id
    assert [key_id for key_id, _ in ring.keys] == ["k2", "default"]
    assert ring.open("cred-1", legacy) == "secret"
    with pytest.raises(CredentialKeyError, match="any configured key"):
        parse_keyring(new_master_key()).open("cred-1", legacy)


@pytest.mark.parametrize(
    "raw",
    ["", "k1:", "k1:c2hvcnQ=", "bad id:{key}", "k1:{key},k1:{key}", "{key},{key}", "-k:{key}"],
)
def test_a_malformed_key_list_is_refused(raw: str) -> None:
    with pytest.raises(CredentialKeyError):
        parse_keyring(raw.replace("{key}", new_master_key()))


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

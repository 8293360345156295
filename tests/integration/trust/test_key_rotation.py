"""The credential key is rotated online: a new key goes first in HELICASE_CREDENTIAL_KEY, the
platform admin runs `helicase admin rotate-credential-key`, and every tenant's stored SSH
credential is then sealed with the new key alone, so the old one can be removed. A second run
re-seals nothing; a credential whose key is not configured is reported, never lost."""

from __future__ import annotations

import asyncio
import json

import asyncssh
import psycopg

from helicase.api.resources.credentials import new_master_key, parse_keyring, sealed_with
from helicase.client import HelicaseClient
from helicase.devstack.testing import RunningSuite, SuiteFactory
from tests.integration.test_cli import piped

K1, K2, K3 = (f"k{i}:{new_master_key()}" for i in (1, 2, 3))


def sealed(suite: RunningSuite) -> dict[str, bytes]:
    with psycopg.connect(suite.database_url) as conn:
        rows = conn.execute("SELECT id, sealed_private_key FROM ssh_credentials").fetchall()
    return {str(credential_id): bytes(blob) for credential_id, blob in rows}


def rotate(suite: RunningSuite, token: str) -> dict[str, object]:
    done = piped(
        "--api", suite.api_addr, "--token", token, "-o", "json", "admin", "rotate-credential-key"
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


async def test_a_rotation_reseals_every_tenants_credentials_under_the_newest_key(
    make_suite: SuiteFactory,
) -> None:
    suite = make_suite(["api"], {"HELICASE_CREDENTIAL_KEY": K1})
    keys = {}
    for tenant in ("rot-a", "rot-b"):
        async with HelicaseClient(suite.api_addr, token=suite.issue_key(tenant)) as client:
            for _ in range(2):
                private = asyncssh.generate_private_key("ssh-ed25519").export_private_key()
                made = await client.create_credential(private.decode())
                keys[made.id] = private.decode()
    assert {sealed_with(blob) for blob in sealed(suite).values()} == {"k1"}

    # A tenant's admin may not rotate: every tenant's credentials are at stake.
    tenant_admin = suite.issue_key("rot-a")
    refused = piped(
        "--api", suite.api_addr, "--token", tenant_admin, "admin", "rotate-credential-key"
    )
    assert refused.returncode == 3 and "PERMISSION_DENIED" in refused.stderr

    await asyncio.to_thread(suite.restart, "api", env={"HELICASE_CREDENTIAL_KEY": f"{K2},{K1}"})
    first = await asyncio.to_thread(rotate, suite, suite.admin_token)
    assert first == {"keyId": "k2", "resealedCount": 4}, first
    again = await asyncio.to_thread(rotate, suite, suite.admin_token)
    assert again == {"keyId": "k2", "currentCount": 4}, again  # idempotent

    # Sealed with k2 alone now: k1 can go.
    only_new = parse_keyring(K2)
    for credential_id, blob in sealed(suite).items():
        assert sealed_with(blob) == "k2"
        assert only_new.open(credential_id, blob) == keys[credential_id]
    await asyncio.to_thread(suite.restart, "api", env={"HELICASE_CREDENTIAL_KEY": K2})
    async with HelicaseClient(suite.api_addr, token=suite.issue_key("rot-c")) as client:
        made = await client.create_credential(
            asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        )
    assert sealed_with(sealed(suite)[made.id]) == "k2"

    # The key that sealed them dropped by mistake: reported, nothing changed.
    before = sealed(suite)
    await asyncio.to_thread(suite.restart, "api", env={"HELICASE_CREDENTIAL_KEY": K3})
    lost = await asyncio.to_thread(rotate, suite, suite.admin_token)
    assert lost == {"keyId": "k3", "unreadableCount": 5}, lost
    assert sealed(suite) == before

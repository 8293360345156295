"""Credential key rotation: re-seals every stored SSH credential under the newest key of
HELICASE_CREDENTIAL_KEY (ResourceService.RotateCredentialKey, platform admin only).

Online and idempotent: credentials are read in pages by id, and each page is re-sealed in its own
short transaction, whose update applies only while the row still holds what was read (a
concurrent rotation wins, and is not undone). Every configured key still opens what it sealed,
so reads go on throughout; once nothing is left under an older key, that key can be removed.
It reads every tenant's credentials, so it is not tenant-scoped: only a platform admin reaches
it (helicase.api.auth.policy)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api.resources.credentials import CredentialKeyError, CredentialKeyring, sealed_with
from helicase.api.tables import ssh_credentials

PAGE = 100


@dataclass
class Rotation:
    """What a rotation found: credentials re-sealed, already under the newest key, and sealed
    with a key that is not configured (these stay as they are)."""

    key_id: str
    resealed: int = 0
    current: int = 0
    unreadable: int = 0


async def rotate(engine: AsyncEngine, keyring: CredentialKeyring, page: int = PAGE) -> Rotation:
    """Re-seals, `page` credentials a transaction, every credential not under the newest key."""
    result = Rotation(key_id=keyring.current)
    table = ssh_credentials
    after = None
    while True:
        query = select(table.c.id, table.c.sealed_private_key).order_by(table.c.id).limit(page)
        if after is not None:
            query = query.where(table.c.id > after)
        async with engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            for credential_id, sealed in rows:
                if sealed_with(sealed) == keyring.current:
                    result.current += 1
                    continue
                try:
                    plain = keyring.open(str(credential_id), sealed)
                except CredentialKeyError:
                    result.unreadable += 1
                    continue
                updated = await conn.execute(
                    table.update()
                    .where(table.c.id == credential_id, table.c.sealed_private_key == sealed)
                    .values(sealed_private_key=keyring.seal(str(credential_id), plain))
                )
                if updated.rowcount:
                    result.resealed += 1
                else:
                    result.current += 1  # re-sealed meanwhile by another rotation
        if len(rows) < page:
            return result
        after = rows[-1][0]

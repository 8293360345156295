"""All SQL of tenants and API keys (the audit trail's is in helicase.api.auth.audit). Only a
token's SHA-256 is stored, never the token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import paging
from helicase.api.auth.authenticator import KeyGrant
from helicase.api.auth.keys import IssuedToken
from helicase.api.auth.principal import PLATFORM_TENANT, Principal, Role
from helicase.api.convert import ts
from helicase.api.tables import api_keys, tenants
from helicase.common.errors import AlreadyExists, NotFound
from helicase.v1 import admin_pb2

PLATFORM_ADMIN_KEY = uuid.UUID(int=1)
"""The id of the key HELICASE_ADMIN_TOKEN stands for."""


def tenant_message(row: RowMapping) -> admin_pb2.Tenant:
    return admin_pb2.Tenant(
        id=row["id"], display_name=row["display_name"], create_time=ts(row["create_time"])
    )


def key_message(row: RowMapping) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(
        id=str(row["id"]), tenant_id=row["tenant_id"], role=row["role"],
        display_name=row["display_name"], create_time=ts(row["create_time"]),
        expire_time=ts(row["expire_time"]), revoke_time=ts(row["revoke_time"]),
    )  # fmt: skip


class AdminStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- tenants

    async def create_tenant(self, tenant_id: str, display_name: str) -> admin_pb2.Tenant:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(tenants)
                    .values(id=tenant_id, display_name=display_name, create_time=_now())
                    .on_conflict_do_nothing(index_elements=["id"])
                    .returning(*tenants.c)
                )
            ).first()
        if row is None:
            raise AlreadyExists(f"tenant {tenant_id!r} exists")
        return tenant_message(row._mapping)

    async def tenant_exists(self, tenant_id: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))
            return found.first() is not None

    async def list_tenants(
        self, page: paging.Page, only: str | None
    ) -> tuple[list[admin_pb2.Tenant], str]:
        query = select(tenants).order_by(tenants.c.id).limit(page.size + 1)
        if only is not None:
            query = query.where(tenants.c.id == only)
        if page.after is not None:
            query = query.where(tenants.c.id > page.after)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        kept, token = paging.next_token(rows, page, lambda r: paging.encode_name(r["id"]))
        return [tenant_message(r) for r in kept], token

    # -- keys

    async def create_key(
        self,
        issued: IssuedToken,
        *,
        tenant_id: str,
        role: int,
        display_name: str,
        ttl: timedelta | None,
    ) -> admin_pb2.ApiKey:
        now = _now()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    api_keys.insert()
                    .values(
                        id=issued.key_id,
                        tenant_id=tenant_id,
                        role=role,
                        display_name=display_name,
                        token_sha256=issued.sha256,
                        create_time=now,
                        expire_time=now + ttl if ttl is not None else None,
                    )
                    .returning(*api_keys.c)
                )
            ).one()
        return key_message(row._mapping)

    async def ensure_platform_admin(self, sha256: bytes) -> None:
        """The platform tenant and its admin key with this token hash (HELICASE_ADMIN_TOKEN),
        made or brought up to date; idempotent, so every replica may run it at start."""
        now = _now()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(tenants)
                .values(id=PLATFORM_TENANT, display_name="Helicase platform", create_time=now)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            values = {"token_sha256": sha256, "revoke_time": None, "expire_time": None}
            await conn.execute(
                insert(api_keys)
                .values(
                    id=PLATFORM_ADMIN_KEY,
                    tenant_id=PLATFORM_TENANT,
                    role=int(Role.ADMIN),
                    display_name="HELICASE_ADMIN_TOKEN",
                    create_time=now,
                    **values,
                )
                .on_conflict_do_update(index_elements=["id"], set_=values)
            )

    async def live_key(self, sha256: bytes, now: datetime) -> KeyGrant | None:
        query = select(api_keys).where(
            api_keys.c.token_sha256 == sha256,
            api_keys.c.revoke_time.is_(None),
            or_(api_keys.c.expire_time.is_(None), api_keys.c.expire_time > now),
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        principal = Principal(
            tenant=row["tenant_id"], subject=f"key:{row['id']}", role=Role(row["role"])
        )
        return KeyGrant(principal, row["expire_time"])

    async def list_keys(
        self, tenant_id: str, page: paging.Page
    ) -> tuple[list[admin_pb2.ApiKey], str]:
        query = paging.by_time(
            select(api_keys).where(api_keys.c.tenant_id == tenant_id),
            api_keys.c.create_time,
            api_keys.c.id,
            page,
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        kept, token = paging.next_token(rows, page, paging.time_id_token)
        return [key_message(r._mapping) for r in kept], token

    async def revoke_key(self, key_id: uuid.UUID, tenant_id: str | None) -> admin_pb2.ApiKey:
        """Revokes key `key_id` (of `tenant_id`, unless None: any tenant's); a revoked key keeps
        its first revoke_time."""
        where = [api_keys.c.id == key_id]
        if tenant_id is not None:
            where.append(api_keys.c.tenant_id == tenant_id)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(api_keys)
                .where(*where, api_keys.c.revoke_time.is_(None))
                .values(revoke_time=_now())
            )
            row = (await conn.execute(select(api_keys).where(*where))).mappings().first()
        if row is None:
            raise NotFound(f"API key {key_id!r} not found")
        return key_message(row)


def _now() -> datetime:
    return datetime.now(UTC)

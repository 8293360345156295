"""All SQL of the composer's sessions (table web_sessions). Times come from PostgreSQL's clock,
so every api replica agrees on when a session ends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api.tables import web_sessions

S = web_sessions.c


class SessionStore:
    """Sessions over the api's async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, lookup: bytes, sealed_token: bytes, ttl: timedelta) -> None:
        """Stores a session that ends after `ttl`, and drops the sessions that already ended."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(S.expire_time <= func.now()))
            await conn.execute(
                web_sessions.insert().values(
                    lookup=lookup, sealed_token=sealed_token, expire_time=func.now() + ttl
                )
            )

    async def sealed_token(self, lookup: bytes) -> bytes | None:
        """The sealed token of a live session, or None (unknown or ended)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(S.sealed_token).where(S.lookup == lookup, S.expire_time > func.now())
                )
            ).first()
        return None if row is None else bytes(row.sealed_token)

    async def delete(self, lookup: bytes) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(S.lookup == lookup))

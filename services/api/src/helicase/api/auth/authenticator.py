"""A bearer token becomes a principal here: an API key (looked up by its hash), a JWT (verified
against the identity provider's keys) or, until the internal plane has its own listener, the
components' shared internal token.

Verified tokens are cached for a few seconds (HELICASE_AUTH_CACHE_SECONDS), never past their
expiry: every call does not pay a database round trip or a signature check, and a key revoked on
any api replica is refused on all of them once the entry ages out.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from helicase.api.auth.jwts import JwtVerifier
from helicase.api.auth.keys import looks_like_jwt, token_hash
from helicase.api.auth.principal import ANY_TENANT, Principal, Role
from helicase.common.errors import Unauthenticated

COMPONENT = Principal(tenant=ANY_TENANT, subject="component", role=Role.ADMIN)
MAX_CACHED = 10_000


@dataclass(frozen=True)
class KeyGrant:
    """What a stored, live API key grants."""

    principal: Principal
    expire_time: datetime | None


class KeyLookup(Protocol):
    async def live_key(self, sha256: bytes, now: datetime) -> KeyGrant | None:
        """The key with this token hash, unless it is unknown, expired or revoked."""


class Authenticator:
    def __init__(
        self,
        keys: KeyLookup,
        *,
        jwt: JwtVerifier | None,
        internal_token: str,
        cache_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._jwt = jwt
        self._internal_token = internal_token.encode()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    def __repr__(self) -> str:  # the internal token and the cache stay out of every log
        return f"Authenticator(jwt={self._jwt is not None}, cache={self._cache_seconds}s)"

    async def authenticate(self, token: str) -> Principal:
        """The principal `token` stands for; Unauthenticated for a missing, unknown, expired,
        revoked or otherwise invalid token."""
        if not token:
            raise Unauthenticated("this call needs `authorization: Bearer <token>`")
        if self._internal_token and hmac.compare_digest(token.encode(), self._internal_token):
            return COMPONENT
        digest = token_hash(token)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal, expires_at = await self._verify(token, digest, now)
        self._remember(digest, principal, min(now + self._cache_seconds, expires_at), now)
        return principal

    def forget_all(self) -> None:
        """Drops every cached token (this replica revoked a key: refuse it here at once)."""
        self._cache.clear()

    async def _verify(self, token: str, digest: bytes, now: float) -> tuple[Principal, float]:
        if looks_like_jwt(token):
            if self._jwt is None:
                raise Unauthenticated("JWTs are not accepted: no identity provider is configured")
            verified = await asyncio.to_thread(self._jwt.verify, token)
            return verified.principal, verified.expires_at
        grant = await self._keys.live_key(digest, datetime.fromtimestamp(now, UTC))
        if grant is None:
            raise Unauthenticated("unknown, expired or revoked API key")
        expires_at = grant.expire_time.timestamp() if grant.expire_time else float("inf")
        return grant.principal, expires_at

    def _remember(self, digest: bytes, principal: Principal, until: float, now: float) -> None:
        if until <= now:
            return
        if len(self._cache) >= MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        self._cache[digest] = (principal, until)

"""JWTs from the deployment's identity provider, verified with PyJWT: the issuer, the audience,
a signing key from the configured JWKS (a file or an https URL), RS256/ES256/EdDSA only (`none`
and the HMAC algorithms are refused before any key is looked at), and the tenant and role read
from configured claims.

`verify` blocks (the JWKS may be fetched over the network; PyJWKClient caches it): the
authenticator runs it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from helicase.api.auth.principal import Principal, Role
from helicase.common.errors import Unauthenticated

ALGORITHMS = ("RS256", "ES256", "EdDSA")
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
JWKS_LIFESPAN_SECONDS = 300.0


@dataclass(frozen=True, kw_only=True)
class JwtSettings:
    issuer: str
    audience: str
    jwks: str  # a file path or a URL
    tenant_claim: str
    role_claim: str


@dataclass(frozen=True)
class VerifiedJwt:
    principal: Principal
    expires_at: float  # the token's `exp` (seconds since the epoch)


def role_of(value: Any) -> Role | None:
    """The role a claim names ("admin", "ROLE_ADMIN", ...; the highest of a list)."""
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        if isinstance(item, str):
            name = item.strip().upper().removeprefix("ROLE_")
            if name in Role.__members__:
                found.append(Role[name])
    return max(found) if found else None


def jwks_uri(source: str) -> str:
    """A URL for PyJWKClient: `source` itself, or a file path as a file: URL."""
    return source if "://" in source else Path(source).resolve().as_uri()


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._keys = jwt.PyJWKClient(
            jwks_uri(settings.jwks), cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS
        )

    def verify(self, token: str) -> VerifiedJwt:
        """The principal of a valid token; Unauthenticated (saying why) for any other."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"not a JWT: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"JWT algorithm {header.get('alg')!r} is not accepted")
        try:
            key = self._signing_key(token, header)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"JWT refused: {exc}") from None
        return VerifiedJwt(self._principal(claims), float(claims["exp"]))

    def _signing_key(self, token: str, header: dict[str, Any]) -> jwt.PyJWK:
        if header.get("kid"):
            return self._keys.get_signing_key_from_jwt(token)
        keys = self._keys.get_signing_keys()
        if len(keys) != 1:
            raise jwt.InvalidTokenError("the JWT names no key id (kid)")
        return keys[0]

    def _principal(self, claims: dict[str, Any]) -> Principal:
        tenant = claims.get(self._settings.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthenticated(f"the JWT has no tenant claim {self._settings.tenant_claim!r}")
        role = role_of(claims.get(self._settings.role_claim))
        if role is None:
            raise Unauthenticated(f"the JWT has no role claim {self._settings.role_claim!r}")
        return Principal(tenant=tenant, subject=str(claims["sub"]), role=role)

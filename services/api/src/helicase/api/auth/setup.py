"""The api's authentication layer, built from its settings: the authenticator (API keys, JWTs,
the components' internal token), the audit log, and the platform admin key of
HELICASE_ADMIN_TOKEN."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api.admin.store import AdminStore
from helicase.api.auth.audit import AuditLog
from helicase.api.auth.authenticator import Authenticator
from helicase.api.auth.interceptor import AuthInterceptor
from helicase.api.auth.jwts import JwtSettings, JwtVerifier
from helicase.api.auth.keys import MIN_ADMIN_TOKEN, token_hash
from helicase.api.config import ApiConfig
from helicase.common.config import ConfigError


def jwt_settings(config: ApiConfig) -> JwtSettings | None:
    """The JWT settings, or None when no JWKS is configured (JWTs are then refused)."""
    if not config.jwt_jwks:
        return None
    if not config.jwt_issuer or not config.jwt_audience:
        raise ConfigError("HELICASE_JWT_JWKS needs HELICASE_JWT_ISSUER and HELICASE_JWT_AUDIENCE")
    return JwtSettings(
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
        jwks=config.jwt_jwks,
        tenant_claim=config.jwt_tenant_claim,
        role_claim=config.jwt_role_claim,
    )


class AuthLayer:
    """What the api's server and AdminService share: the store of keys, the authenticator,
    the audit log and the interceptor."""

    def __init__(self, config: ApiConfig, engine: AsyncEngine) -> None:
        if config.admin_token and len(config.admin_token) < MIN_ADMIN_TOKEN:
            raise ConfigError(
                f"HELICASE_ADMIN_TOKEN must have at least {MIN_ADMIN_TOKEN} characters"
            )
        settings = jwt_settings(config)
        self._admin_token = config.admin_token
        self.store = AdminStore(engine)
        self.audit = AuditLog(engine)
        self.authenticator = Authenticator(
            self.store,
            jwt=JwtVerifier(settings) if settings else None,
            internal_token=config.internal_token,
            cache_seconds=config.auth_cache_seconds,
        )
        self.interceptor = AuthInterceptor(self.authenticator, self.audit)

    def __repr__(self) -> str:
        return "AuthLayer()"

    async def ensure_platform_admin(self) -> None:
        """The platform tenant and its admin key of HELICASE_ADMIN_TOKEN (if set)."""
        if self._admin_token:
            await self.store.ensure_platform_admin(token_hash(self._admin_token))

"""The api's configuration: its settings, declared once (README.md, "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from helicase.common.config import (
    DEFAULT_WEB_ADDR,
    CommonConfig,
    ServiceConfig,
    duration,
    flag,
    from_setting,
    integer,
    names,
    read_settings,
    string,
)

MAX_TASKS = integer("HELICASE_MAX_TASKS", 100_000, "tasks per workflow", minimum=1)
MIGRATE = flag("HELICASE_DB_MIGRATE", True, "run the Alembic migrations at start")
RELAY_INTERVAL = duration(
    "HELICASE_RELAY_INTERVAL", "200ms", "outbox poll when idle (a commit wakes it at once)"
)
WATCH_REFRESH = duration("HELICASE_WATCH_REFRESH", "1s", "WatchWorkflow's safety re-read")
INLINE_TASKS = integer(
    "HELICASE_INLINE_TASKS",
    1_000,
    "tasks a FULL read (GetWorkflow, ListWorkflows, WatchWorkflow) inlines per workflow; "
    "ListTasks serves the rest",
    minimum=1,
)
ANSWER_BYTES = integer(
    "HELICASE_ANSWER_BYTES",
    8 * 2**20,
    "bytes a list answer or a watch message stays under (a workflow inlines tasks up to half "
    "of it); a list's page stops there and returns its next_page_token",
    minimum=2**16,
)
WEB_LISTEN = string(
    "HELICASE_WEB_ADDR",
    DEFAULT_WEB_ADDR,
    'HTTP address of the composer and the Connect protocol ("off": no HTTP)',
)
WEB_DIST = string(
    "HELICASE_WEB_DIST",
    "",
    "the composer's built files",
    shown="`web/dist` of the checkout",
)
WEB_ALLOWED_HOSTS = names(
    "HELICASE_WEB_ALLOWED_HOSTS",
    "",
    "names the HTTP port answers to (`host` or `host:port`), against DNS rebinding and CSRF",
    shown="the listen host, `localhost`, `127.0.0.1`, `[::1]`, at the HTTP port",
)
WEB_SESSION_TTL = duration(
    "HELICASE_WEB_SESSION_TTL", "12h", "how long a composer sign-in lasts (then sign in again)"
)
WEB_SECURE_COOKIE = string(
    "HELICASE_WEB_SECURE_COOKIE",
    "auto",
    "the session cookie's Secure flag: `auto` (if the request came over https), `always`, `never`",
)
CREDENTIAL_KEY = string(
    "HELICASE_CREDENTIAL_KEY",
    "",
    "the keys sealing SSH private keys, newest first: `id:key` entries (an id, a 32-byte key in"
    " base64) separated by commas; the first seals, each opens what it sealed (a lone key"
    " without an id is `default`); rotate: docs/operations.md",
    shown="empty (credentials refused)",
)

ADMIN_TOKEN = string(
    "HELICASE_ADMIN_TOKEN",
    "",
    "the platform admin's bearer token (32+ characters), kept as the `platform` tenant's admin"
    " key (only its hash is stored)",
    shown="empty (no platform admin key)",
)
JWT_ISSUER = string("HELICASE_JWT_ISSUER", "", "the `iss` every accepted JWT must carry")
JWT_AUDIENCE = string("HELICASE_JWT_AUDIENCE", "", "the `aud` every accepted JWT must carry")
JWT_JWKS = string(
    "HELICASE_JWT_JWKS",
    "",
    "the identity provider's signing keys: a JWKS file path or URL (RS256, ES256, EdDSA)",
    shown="empty (JWTs refused)",
)
JWT_TENANT_CLAIM = string(
    "HELICASE_JWT_TENANT_CLAIM", "helicase_tenant", "the JWT claim naming the tenant"
)
JWT_ROLE_CLAIM = string(
    "HELICASE_JWT_ROLE_CLAIM",
    "helicase_role",
    "the JWT claim naming the role (`viewer`, `submitter`, `admin`)",
)
AUTH_CACHE_SECONDS = integer(
    "HELICASE_AUTH_CACHE_SECONDS",
    5,
    "how long a verified token is cached: a revoked key works at most this long on a replica",
    minimum=0,
)
# Fair use per tenant (helicase.api.fairuse): the defaults; AdminService.UpdateTenantLimits
# overrides them for one tenant.
TENANT_RATE = integer(
    "HELICASE_TENANT_RATE",
    200,
    "request units a second one tenant may spend on one api replica (a read costs 1, a"
    " listing 2, a write 5, a workflow start 20, plus 1 per 64 KiB of the request:"
    " helicase.api.fairuse.cost; 0: no limit)",
    minimum=0,
)
TENANT_BURST = integer(
    "HELICASE_TENANT_BURST",
    400,
    "request units one tenant may spend at once above its rate",
    minimum=1,
)
TENANT_MAX_STREAMS = integer(
    "HELICASE_TENANT_MAX_STREAMS",
    50,
    "open WatchWorkflow streams one tenant may hold on one api replica (0: no limit)",
    minimum=0,
)
TENANT_MAX_QUEUED_TASKS = integer(
    "HELICASE_TENANT_MAX_QUEUED_TASKS",
    200_000,
    "tasks of one tenant's unfinished (pending or running) workflows; a CreateWorkflow beyond"
    " is refused (0: no limit)",
    minimum=0,
)
TENANT_MAX_QUEUED_BYTES = integer(
    "HELICASE_TENANT_MAX_QUEUED_BYTES",
    256 * 2**20,
    "bytes of the definitions of one tenant's unfinished workflows (the scheduler and the"
    " controller hold them); a CreateWorkflow beyond is refused (0: no limit)",
    minimum=0,
)
TENANT_LIMITS_CACHE = duration(
    "HELICASE_TENANT_LIMITS_CACHE",
    "5s",
    "how long an api replica keeps a tenant's limits before reading them again",
)

RETENTION_TTL = duration(
    "HELICASE_RETENTION_TTL",
    "720h",
    "finished workflows (and relayed outbox rows) older than this are archived and purged"
    " (`0`: kept forever)",
)
RETENTION_BATCH = integer(
    "HELICASE_RETENTION_BATCH",
    50,
    "workflows archived and deleted per purge transaction",
    minimum=1,
)
RETENTION_INTERVAL = duration(
    "HELICASE_RETENTION_INTERVAL", "10m", "how often the purge loop runs (on one api at a time)"
)
RETENTION_ARCHIVE_DIR = string(
    "HELICASE_RETENTION_ARCHIVE_DIR",
    ".helicase/archive",
    "where purged workflows are exported first, as `<tenant>/<end day>.jsonl`",
)


@dataclass(frozen=True, kw_only=True)
class ApiConfig(ServiceConfig):
    listen: str  # HELICASE_API_ADDR (common)
    internal_listen: str  # HELICASE_API_INTERNAL_ADDR (common): mutual TLS only
    max_tasks: int = from_setting(MAX_TASKS)
    migrate: bool = from_setting(MIGRATE)
    relay_interval: timedelta = from_setting(RELAY_INTERVAL)
    watch_refresh: timedelta = from_setting(WATCH_REFRESH)
    inline_tasks: int = from_setting(INLINE_TASKS)
    answer_bytes: int = from_setting(ANSWER_BYTES)
    web_listen: str = from_setting(WEB_LISTEN)
    web_dist: str = from_setting(WEB_DIST)
    web_allowed_hosts: tuple[str, ...] = from_setting(WEB_ALLOWED_HOSTS)
    web_session_ttl: timedelta = from_setting(WEB_SESSION_TTL)
    web_secure_cookie: str = from_setting(WEB_SECURE_COOKIE)
    credential_key: str = from_setting(CREDENTIAL_KEY, secret=True)
    admin_token: str = from_setting(ADMIN_TOKEN, secret=True)
    jwt_issuer: str = from_setting(JWT_ISSUER)
    jwt_audience: str = from_setting(JWT_AUDIENCE)
    jwt_jwks: str = from_setting(JWT_JWKS)
    jwt_tenant_claim: str = from_setting(JWT_TENANT_CLAIM)
    jwt_role_claim: str = from_setting(JWT_ROLE_CLAIM)
    auth_cache_seconds: int = from_setting(AUTH_CACHE_SECONDS)
    retention_ttl: timedelta = from_setting(RETENTION_TTL)
    retention_batch: int = from_setting(RETENTION_BATCH)
    retention_interval: timedelta = from_setting(RETENTION_INTERVAL)
    retention_archive_dir: str = from_setting(RETENTION_ARCHIVE_DIR)
    tenant_rate: int = from_setting(TENANT_RATE)
    tenant_burst: int = from_setting(TENANT_BURST)
    tenant_max_streams: int = from_setting(TENANT_MAX_STREAMS)
    tenant_max_queued_tasks: int = from_setting(TENANT_MAX_QUEUED_TASKS)
    tenant_max_queued_bytes: int = from_setting(TENANT_MAX_QUEUED_BYTES)
    tenant_limits_cache: timedelta = from_setting(TENANT_LIMITS_CACHE)

    @classmethod
    def from_env(cls) -> Self:
        common = CommonConfig.from_env()
        return read_settings(
            cls, common=common, listen=common.api_addr, internal_listen=common.api_internal_addr
        )

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.common.database_url)


def sqlalchemy_url(database_url: str) -> str:
    """A libpq-style postgresql:// URL as SQLAlchemy's psycopg 3 dialect wants it."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url

"""The api's configuration (environment variables, documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import (
    DEFAULT_WEB_ADDR,
    CommonConfig,
    env_duration,
    env_int,
    env_str,
)


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """HELICASE_API_ADDR: gRPC listen address (127.0.0.1:50051).
    HELICASE_MAX_TASKS: tasks per workflow (100000).
    HELICASE_DB_MIGRATE: run migrations at start (1).
    HELICASE_RELAY_INTERVAL: outbox poll interval when idle (200ms).
    HELICASE_WATCH_REFRESH: WatchWorkflow's safety re-read interval (1s).
    HELICASE_WEB_ADDR: HTTP listen address of the composer and the Connect protocol
    (127.0.0.1:8080; "off" serves no HTTP)."""

    common: CommonConfig
    listen: str
    max_tasks: int
    migrate: bool
    relay_interval: timedelta
    watch_refresh: timedelta
    web_listen: str = DEFAULT_WEB_ADDR

    @classmethod
    def from_env(cls) -> ApiConfig:
        common = CommonConfig.from_env()
        return cls(
            common=common,
            listen=common.api_addr,
            max_tasks=env_int("HELICASE_MAX_TASKS", 100_000, minimum=1),
            migrate=env_str("HELICASE_DB_MIGRATE", "1") != "0",
            relay_interval=env_duration("HELICASE_RELAY_INTERVAL", timedelta(milliseconds=200)),
            watch_refresh=env_duration("HELICASE_WATCH_REFRESH", timedelta(seconds=1)),
            web_listen=env_str("HELICASE_WEB_ADDR", DEFAULT_WEB_ADDR),
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

"""Configuration from environment variables, with the documented defaults of the local suite."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_ZK = "127.0.0.1:2181"
DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://helicase:helicase@127.0.0.1:5432/helicase"
DEFAULT_API_ADDR = "127.0.0.1:50051"
DEFAULT_WEB_ADDR = "127.0.0.1:8080"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    return value


def parse_duration(raw: str) -> timedelta:
    """Parses "250ms", "1.5s", "2m", "1h" or a bare number of seconds."""
    match = _DURATION.match(raw)
    if not match:
        raise ConfigError(f"{raw!r} is not a duration (e.g. 250ms, 1.5s, 2m)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def env_duration(name: str, default: timedelta) -> timedelta:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class CommonConfig:
    """Settings every service reads.

    HELICASE_ZK: ZooKeeper connect string, may end in a chroot ("127.0.0.1:2181/ns").
    HELICASE_KAFKA: Kafka bootstrap servers.
    HELICASE_TOPIC_PREFIX: prefix of every topic and consumer group (isolates test suites).
    HELICASE_DATABASE_URL: PostgreSQL URL (used by the api only).
    HELICASE_API_ADDR: address of the api's gRPC server.
    HELICASE_ZK_SESSION_TIMEOUT: ZooKeeper session timeout (default 6s).
    HELICASE_KAFKA_LINGER: how long a Kafka producer waits to fill a batch (default: each
    service's own, see AsyncProducer's callers).
    """

    zk: str
    kafka: str
    topic_prefix: str
    database_url: str
    api_addr: str
    zk_session_timeout: timedelta
    kafka_linger: timedelta | None = None  # None: the service's own default

    @classmethod
    def from_env(cls) -> CommonConfig:
        return cls(
            zk=env_str("HELICASE_ZK", DEFAULT_ZK),
            kafka=env_str("HELICASE_KAFKA", DEFAULT_KAFKA),
            topic_prefix=os.environ.get("HELICASE_TOPIC_PREFIX", "").strip(),
            database_url=env_str("HELICASE_DATABASE_URL", DEFAULT_DATABASE_URL),
            api_addr=env_str("HELICASE_API_ADDR", DEFAULT_API_ADDR),
            zk_session_timeout=env_duration("HELICASE_ZK_SESSION_TIMEOUT", timedelta(seconds=6)),
            kafka_linger=(
                env_duration("HELICASE_KAFKA_LINGER", timedelta(0))
                if os.environ.get("HELICASE_KAFKA_LINGER", "").strip()
                else None
            ),
        )


def host_name() -> str:
    """The host name; a pod's name on Kubernetes."""
    return socket.gethostname()

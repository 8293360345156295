"""Configuration from environment variables, each declared once as a `Setting`.

A `Setting` names one `HELICASE_*` variable, its type, its default (written as one would write
the variable), its limits and a one-line meaning. Each service's typed configuration class marks
its attributes with `from_setting(SETTING)`, and `read_settings` fills them from the environment.
README.md's "Configuration" table is the documented list; tests/unit/test_config_table.py
fails when it and the declarations disagree.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Generic, Self, TypeVar, cast

DEFAULT_ZK = "127.0.0.1:2181"
DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://helicase:helicase@127.0.0.1:5432/helicase"
DEFAULT_API_ADDR = "127.0.0.1:50051"
DEFAULT_WEB_ADDR = "127.0.0.1:8080"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

T = TypeVar("T")
C = TypeVar("C")


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def parse_duration(raw: str) -> timedelta:
    """Parses "250ms", "1.5s", "2m", "1h" or a bare number of seconds."""
    match = _DURATION.match(raw)
    if not match:
        raise ConfigError(f"{raw!r} is not a duration (e.g. 250ms, 1.5s, 2m)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True, kw_only=True)
class Setting(Generic[T]):
    """One environment variable: its name, type, default, limits and meaning.

    `default` is the text an unset (or blank) variable stands for; `computed` replaces it when
    the default depends on the host (then `shown` says what it is). `shown` is the default as
    README.md's table writes it."""

    name: str
    kind: str  # "string", "integer", "duration", "flag" or "list": what `parse` accepts
    default: str
    doc: str
    parse: Callable[[Setting[T], str], T]
    minimum: int | None = None
    computed: Callable[[], T] | None = None
    shown: str = ""

    @property
    def documented_default(self) -> str:
        if self.shown:
            return self.shown
        return f"`{self.default}`" if self.default else "empty"

    def read(self, environ: Mapping[str, str] | None = None) -> T:
        raw = (os.environ if environ is None else environ).get(self.name, "").strip()
        if not raw and self.computed is not None:
            return self.computed()
        return self.parse(self, raw or self.default)

    @property
    def default_value(self) -> T:
        """What the variable stands for when unset."""
        return self.computed() if self.computed is not None else self.parse(self, self.default)


def _string(_: Setting[str], raw: str) -> str:
    return raw


def _integer(setting: Setting[int], raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{setting.name}={raw!r} is not an integer") from exc
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{setting.name}={value} is below the minimum {setting.minimum}")
    return value


def _duration(setting: Setting[timedelta], raw: str) -> timedelta:
    try:
        return parse_duration(raw)
    except ConfigError as exc:
        raise ConfigError(f"{setting.name}: {exc}") from exc


def _optional_duration(setting: Setting[timedelta | None], raw: str) -> timedelta | None:
    if not raw:
        return None
    try:
        return parse_duration(raw)
    except ConfigError as exc:
        raise ConfigError(f"{setting.name}: {exc}") from exc


def _flag(setting: Setting[bool], raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{setting.name}={raw!r} is not a flag (1 or 0)")


def _names(_: Setting[tuple[str, ...]], raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def string(
    name: str, default: str, doc: str, *, computed: Callable[[], str] | None = None, shown: str = ""
) -> Setting[str]:
    return Setting(
        name=name, kind="string", default=default, doc=doc, parse=_string, computed=computed,
        shown=shown,
    )  # fmt: skip


def integer(
    name: str, default: int, doc: str, *, minimum: int | None = None, shown: str = ""
) -> Setting[int]:
    return Setting(
        name=name, kind="integer", default=str(default), doc=doc, parse=_integer,
        minimum=minimum, shown=shown,
    )  # fmt: skip


def duration(name: str, default: str, doc: str, *, shown: str = "") -> Setting[timedelta]:
    return Setting(
        name=name, kind="duration", default=default, doc=doc, parse=_duration, shown=shown
    )


def optional_duration(name: str, doc: str, *, shown: str) -> Setting[timedelta | None]:
    """A duration whose absence means "the caller's own default" (None)."""
    return Setting(
        name=name, kind="duration", default="", doc=doc, parse=_optional_duration, shown=shown
    )


def flag(name: str, default: bool, doc: str) -> Setting[bool]:
    return Setting(name=name, kind="flag", default="1" if default else "0", doc=doc, parse=_flag)


def names(name: str, default: str, doc: str, *, shown: str = "") -> Setting[tuple[str, ...]]:
    """A comma-separated list of names."""
    return Setting(name=name, kind="list", default=default, doc=doc, parse=_names, shown=shown)


def from_setting(setting: Setting[T], *, secret: bool = False) -> T:
    """A dataclass field read from `setting` by `read_settings`; its default is the setting's,
    unless the setting's default depends on the host. A secret stays out of the repr."""
    metadata = {"setting": setting}
    if setting.computed is not None:
        return cast(T, field(metadata=metadata, repr=not secret))
    return field(default=setting.default_value, metadata=metadata, repr=not secret)


def read_settings(cls: type[C], environ: Mapping[str, str] | None = None, **given: Any) -> C:
    """An instance of the dataclass `cls`, each `from_setting` attribute read from the
    environment, the others from `given`."""
    values = {
        f.name: f.metadata["setting"].read(environ)
        for f in fields(cast(Any, cls))
        if "setting" in f.metadata and f.name not in given
    }
    return cls(**values, **given)


def settings_of(cls: type[Any]) -> tuple[Setting[Any], ...]:
    """The settings a configuration class reads."""
    return tuple(f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata)


def host_name() -> str:
    """The host name; a pod's name on Kubernetes."""
    return socket.gethostname()


# The settings every service reads ------------------------------------------------------------

ZK = string(
    "HELICASE_ZK",
    DEFAULT_ZK,
    'ZooKeeper connect string; may end in a chroot ("127.0.0.1:2181/ns")',
)
KAFKA = string("HELICASE_KAFKA", DEFAULT_KAFKA, "Kafka bootstrap servers")
TOPIC_PREFIX = string(
    "HELICASE_TOPIC_PREFIX", "", "prefix of every topic and consumer group (isolates suites)"
)
DATABASE_URL = string("HELICASE_DATABASE_URL", DEFAULT_DATABASE_URL, "PostgreSQL URL (the api's)")
API_ADDR = string(
    "HELICASE_API_ADDR",
    DEFAULT_API_ADDR,
    "the api's gRPC address: the api listens there, the others call it",
)
ZK_SESSION_TIMEOUT = duration("HELICASE_ZK_SESSION_TIMEOUT", "6s", "ZooKeeper session timeout")
KAFKA_LINGER = optional_duration(
    "HELICASE_KAFKA_LINGER",
    "how long a Kafka producer waits to fill a batch. Unset: 2ms for task events (participants,"
    " the controller's task events), 0 for launch commands (api), the scheduler's and the"
    " controller's workflow events. 0 everywhere costs much CPU per message",
    shown="per service",
)
LOG_LEVEL = string("HELICASE_LOG_LEVEL", "INFO", "log level (JSON lines on stderr)")
METRICS_ADDR = string(
    "HELICASE_METRICS_ADDR",
    "",
    "serve Prometheus `/metrics` on this host:port (the local suite uses 9101-9107)",
    shown="empty (off)",
)
TRACE_DIR = string(
    "HELICASE_TRACE_DIR",
    "",
    "write OpenTelemetry spans as JSON lines to `<dir>/<service>-<pid>.jsonl`",
    shown="empty (off)",
)
INTERNAL_TOKEN = string(
    "HELICASE_INTERNAL_TOKEN",
    "",
    "the components' shared token on the api (credential resolution, event recording, the"
    " scheduler's calls) until the internal plane has its own listener",
    shown="empty (components refused)",
)


@dataclass(frozen=True, kw_only=True)
class CommonConfig:
    """Settings every service reads (declared above; README.md's Configuration table)."""

    zk: str = from_setting(ZK)
    kafka: str = from_setting(KAFKA)
    topic_prefix: str = from_setting(TOPIC_PREFIX)
    database_url: str = from_setting(DATABASE_URL, secret=True)  # it may carry a password
    api_addr: str = from_setting(API_ADDR)
    # (ruff's extend-immutable-calls does not see this module's own from_setting)
    zk_session_timeout: timedelta = from_setting(ZK_SESSION_TIMEOUT)  # noqa: RUF009
    kafka_linger: timedelta | None = from_setting(KAFKA_LINGER)  # noqa: RUF009

    @classmethod
    def from_env(cls) -> CommonConfig:
        return read_settings(cls)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """The base of a service's configuration class: the common settings, plus the service's
    own `from_setting` attributes declared by the subclass."""

    common: CommonConfig

    @classmethod
    def from_env(cls) -> Self:
        return read_settings(cls, common=CommonConfig.from_env())


# Read outside CommonConfig: by logs, metrics, tracing and the credential fetch.
COMMON_SETTINGS: tuple[Setting[Any], ...] = (
    *settings_of(CommonConfig),
    LOG_LEVEL,
    METRICS_ADDR,
    TRACE_DIR,
    INTERNAL_TOKEN,
)


def declared(*groups: Iterable[Setting[Any]]) -> dict[str, Setting[Any]]:
    """The settings of `groups` by name; a name declared twice is an error."""
    found: dict[str, Setting[Any]] = {}
    for group in groups:
        for setting in group:
            if setting.name in found and found[setting.name] is not setting:
                raise ConfigError(f"{setting.name} is declared twice")
            found[setting.name] = setting
    return found

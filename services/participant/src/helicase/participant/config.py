"""The participant's configuration (environment variables, documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import CommonConfig, env_duration, env_int, env_str, host_name


def ledger_path() -> str:
    """HELICASE_PARTICIPANT_LEDGER, or "" when unset."""
    return env_str("HELICASE_PARTICIPANT_LEDGER", "")


@dataclass(frozen=True, kw_only=True)
class ParticipantConfig:
    """HELICASE_PARTICIPANT_ADDR: health/reflection address (127.0.0.1:50055).
    HELICASE_PARTICIPANT_NAME: unique name among live participants (the host name).
    HELICASE_PARTICIPANT_GROUP: instance group tag (default).
    HELICASE_PARTICIPANT_CAPACITY: tasks run at once (8).
    HELICASE_PARTICIPANT_TASK_TYPES: task types served (noop,sleep,shell).
    HELICASE_PARTICIPANT_GRACE: SIGTERM-to-SIGKILL grace of cancelled shell tasks (2s).
    HELICASE_PARTICIPANT_MAX_RSS_MB: exit (code 3) when the resident memory of the participant and
    its tasks' processes passes this, as a container past its memory limit would (0 = off).
    HELICASE_PARTICIPANT_MODULES: comma-separated Python modules imported at start, each
    registering task types with @task_type (a gateway's own library; unset = none).
    HELICASE_PARTICIPANT_RUNNING_DELAY: how long a task runs before it is reported RUNNING (20ms);
    a task that ends sooner reports only its end, which carries its start time (0 = at once).
    HELICASE_PARTICIPANT_LEDGER: a file to append one JSON line per task start, finish and
    acknowledgement to (unset = off; for the chaos driver, several participants may share it)."""

    common: CommonConfig
    listen: str
    name: str
    group: str
    capacity: int
    task_types: tuple[str, ...]
    grace: timedelta
    max_rss_mb: int
    ledger: str = ""
    running_delay: timedelta = timedelta(milliseconds=20)
    modules: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> ParticipantConfig:
        types = env_str("HELICASE_PARTICIPANT_TASK_TYPES", "noop,sleep,shell")
        return cls(
            common=CommonConfig.from_env(),
            listen=env_str("HELICASE_PARTICIPANT_ADDR", "127.0.0.1:50055"),
            name=env_str("HELICASE_PARTICIPANT_NAME", host_name()),
            group=env_str("HELICASE_PARTICIPANT_GROUP", "default"),
            capacity=env_int("HELICASE_PARTICIPANT_CAPACITY", 8, minimum=1),
            task_types=tuple(t.strip() for t in types.split(",") if t.strip()),
            grace=env_duration("HELICASE_PARTICIPANT_GRACE", timedelta(seconds=2)),
            max_rss_mb=env_int("HELICASE_PARTICIPANT_MAX_RSS_MB", 0, minimum=0),
            ledger=ledger_path(),
            running_delay=env_duration(
                "HELICASE_PARTICIPANT_RUNNING_DELAY", timedelta(milliseconds=20)
            ),
            modules=tuple(
                m.strip()
                for m in env_str("HELICASE_PARTICIPANT_MODULES", "").split(",")
                if m.strip()
            ),
        )

"""The participant's configuration: its settings, declared once (README.md, "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import (
    ServiceConfig,
    duration,
    flag,
    from_setting,
    host_name,
    integer,
    names,
    string,
)

LISTEN = string("HELICASE_PARTICIPANT_ADDR", "127.0.0.1:50055", "health/reflection address")
NAME = string(
    "HELICASE_PARTICIPANT_NAME",
    "",
    "unique name among live participants",
    computed=host_name,
    shown="host name (the pod's name on Kubernetes)",
)
GROUP = string("HELICASE_PARTICIPANT_GROUP", "default", "instance group tag")
CAPACITY = integer("HELICASE_PARTICIPANT_CAPACITY", 8, "tasks run at once", minimum=1)
TASK_TYPES = names(
    "HELICASE_PARTICIPANT_TASK_TYPES",
    "noop,sleep,shell",
    "task types served (`shell` only with HELICASE_PARTICIPANT_ENABLE_SHELL)",
)
ENABLE_SHELL = flag(
    "HELICASE_PARTICIPANT_ENABLE_SHELL",
    False,
    "serve the `shell` type (arbitrary commands of any caller allowed to submit); without it"
    " `shell` is not advertised and a `shell` task ends FATAL_FAILED. The local suite's `default`"
    " participants and the dev overlay set it",
)
TASK_USER = string(
    "HELICASE_PARTICIPANT_TASK_USER",
    "nobody",
    "the unprivileged account (with its groups) task processes run as when the participant runs"
    " as root",
)
GRACE = duration(
    "HELICASE_PARTICIPANT_GRACE", "2s", "SIGTERM-to-SIGKILL grace of a cancelled shell task"
)
MAX_RSS_MB = integer(
    "HELICASE_PARTICIPANT_MAX_RSS_MB",
    0,
    "exit (code 3) when the resident memory of the participant and its tasks' processes passes"
    " this, as a container past its memory limit would (0: off)",
    minimum=0,
)
MODULES = names(
    "HELICASE_PARTICIPANT_MODULES",
    "",
    "comma-separated Python modules imported at start, each registering task types with"
    " @task_type (a gateway's own library) or task observers",
)
RUNNING_DELAY = duration(
    "HELICASE_PARTICIPANT_RUNNING_DELAY",
    "20ms",
    "how long a task runs before it is reported RUNNING; a task that ends sooner reports only"
    " its end, which carries its start time (0: at once)",
)


@dataclass(frozen=True, kw_only=True)
class ParticipantConfig(ServiceConfig):
    listen: str = from_setting(LISTEN)
    name: str = from_setting(NAME)
    group: str = from_setting(GROUP)
    capacity: int = from_setting(CAPACITY)
    task_types: tuple[str, ...] = from_setting(TASK_TYPES)
    enable_shell: bool = from_setting(ENABLE_SHELL)
    task_user: str = from_setting(TASK_USER)
    grace: timedelta = from_setting(GRACE)
    max_rss_mb: int = from_setting(MAX_RSS_MB)
    running_delay: timedelta = from_setting(RUNNING_DELAY)
    modules: tuple[str, ...] = from_setting(MODULES)

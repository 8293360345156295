"""The controller's configuration: its settings, declared once (README.md, "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import (
    ServiceConfig,
    duration,
    flag,
    from_setting,
    integer,
    string,
)
from helicase.controller._steps import MachineSettings

LISTEN = string(
    "HELICASE_CONTROLLER_ADDR",
    "127.0.0.1:50052",
    "listen address (mutual TLS only: ControllerService and the participants' stream),"
    " advertised to clients as the leader's",
)
HEALTH_LISTEN = string(
    "HELICASE_CONTROLLER_HEALTH_ADDR",
    "127.0.0.1:50072",
    "plaintext health/reflection address (probes; the local suite's second controller: 50073)",
)
PARTICIPANT_LOST_GRACE = duration(
    "HELICASE_PARTICIPANT_LOST_GRACE",
    "5s",
    "how long a participant whose stream broke (or that held tasks before a failover) may take"
    " to come back before its tasks are re-placed (not the participant's own kill grace)",
)
FLUSH_INTERVAL = duration(
    "HELICASE_FLUSH_INTERVAL",
    "5ms",
    "group-commit window of ZooKeeper state writes; a write starts at once when none happened"
    " within the window",
)
CANCEL_DEADLINE = duration(
    "HELICASE_CANCEL_DEADLINE",
    "10s",
    "a CANCELING workflow ends CANCELED after this even if participants never answer",
)
MAX_REPLACEMENTS = integer(
    "HELICASE_MAX_REPLACEMENTS",
    5,
    "re-placements of one attempt after participant losses before the attempt counts as FAILED",
    minimum=0,
)
VALIDATE = flag(
    "HELICASE_CONTROLLER_VALIDATE",
    False,
    "check the state machine's invariants after every step; a violation makes the leader resign"
    " like an exception of the machine (costs a pass over every tracked task per step)",
)


@dataclass(frozen=True, kw_only=True)
class ControllerConfig(ServiceConfig):
    listen: str = from_setting(LISTEN)
    health_listen: str = from_setting(HEALTH_LISTEN)
    participant_grace: timedelta = from_setting(PARTICIPANT_LOST_GRACE)
    flush_interval: timedelta = from_setting(FLUSH_INTERVAL)
    cancel_deadline: timedelta = from_setting(CANCEL_DEADLINE)
    max_replacements: int = from_setting(MAX_REPLACEMENTS)
    validate: bool = from_setting(VALIDATE)

    @property
    def source(self) -> str:
        """The `source` of the events this controller publishes."""
        return f"controller/{self.listen}"

    def machine_settings(self) -> MachineSettings:
        return MachineSettings(
            participant_grace=self.participant_grace,
            cancel_deadline=self.cancel_deadline,
            max_replacements=min(self.max_replacements, 255),
        )

"""The controller's configuration (environment variables, documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import CommonConfig, env_duration, env_int, env_str
from helicase.controller._steps import MachineSettings

TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    """HELICASE_CONTROLLER_ADDR: listen address, advertised to clients as leader (127.0.0.1:50052).
    HELICASE_PARTICIPANT_LOST_GRACE: how long a participant whose stream broke (or that held tasks
    before a failover) may take to come back before its tasks are re-placed (5s). Not
    HELICASE_PARTICIPANT_GRACE: that is the participant's own kill grace.
    HELICASE_FLUSH_INTERVAL: group-commit window of ZooKeeper state writes (5ms); a write starts at
    once when none happened within the window.
    HELICASE_CANCEL_DEADLINE: a CANCELING workflow ends CANCELED after this even if participants
    never answer (10s).
    HELICASE_MAX_REPLACEMENTS: re-placements of one attempt after participant losses before the
    attempt counts as FAILED (5).
    HELICASE_CONTROLLER_VALIDATE: check the state machine's invariants after every step; a
    violation makes the leader resign, like an exception of the machine (false; costs a pass
    over every tracked task per step)."""

    common: CommonConfig
    listen: str = "127.0.0.1:50052"
    participant_grace: timedelta = timedelta(seconds=5)
    flush_interval: timedelta = timedelta(milliseconds=5)
    cancel_deadline: timedelta = timedelta(seconds=10)
    max_replacements: int = 5
    validate: bool = False

    @classmethod
    def from_env(cls) -> ControllerConfig:
        return cls(
            common=CommonConfig.from_env(),
            listen=env_str("HELICASE_CONTROLLER_ADDR", cls.listen),
            participant_grace=env_duration(
                "HELICASE_PARTICIPANT_LOST_GRACE", cls.participant_grace
            ),
            flush_interval=env_duration("HELICASE_FLUSH_INTERVAL", cls.flush_interval),
            cancel_deadline=env_duration("HELICASE_CANCEL_DEADLINE", cls.cancel_deadline),
            max_replacements=env_int("HELICASE_MAX_REPLACEMENTS", cls.max_replacements, minimum=0),
            validate=env_str("HELICASE_CONTROLLER_VALIDATE", "false").lower() in TRUE,
        )

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

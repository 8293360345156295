"""The controller's configuration (environment variables, documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import CommonConfig, env_duration, env_str


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    """HELICASE_CONTROLLER_ADDR: listen address, advertised to clients as leader (127.0.0.1:50052).
    HELICASE_PARTICIPANT_LOST_GRACE: how long a participant whose stream broke may take to come back
    before its tasks are re-placed (5s).
    HELICASE_FLUSH_INTERVAL: group-commit window of ZooKeeper state writes (2ms)."""

    common: CommonConfig
    listen: str
    participant_grace: timedelta
    flush_interval: timedelta

    @classmethod
    def from_env(cls) -> ControllerConfig:
        return cls(
            common=CommonConfig.from_env(),
            listen=env_str("HELICASE_CONTROLLER_ADDR", "127.0.0.1:50052"),
            participant_grace=env_duration("HELICASE_PARTICIPANT_LOST_GRACE", timedelta(seconds=5)),
            flush_interval=env_duration("HELICASE_FLUSH_INTERVAL", timedelta(milliseconds=2)),
        )

"""The scheduler's configuration (environment variables, documented defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import CommonConfig, env_duration, env_int, env_str, host_name


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """HELICASE_SCHEDULER_ADDR: health/reflection address (127.0.0.1:50053).
    HELICASE_SCHEDULER_ID: this scheduler's id, written into its owner nodes (host name-pid).
    HELICASE_SCHEDULER_MAX_RUNNING: most workflows this scheduler runs at once (1000); further
    launches wait, uncommitted, until one finishes.
    HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT: most workflows of one tenant at once (0 = no limit).
    HELICASE_TENANT_LABEL: the workflow label naming its tenant (tenant).
    HELICASE_ADOPT_INTERVAL: how often to look for running workflows without an owner (5s).
    HELICASE_SCHEDULE_INTERVAL: how often the firing scheduler looks for due schedules (1s)."""

    common: CommonConfig
    listen: str
    scheduler_id: str
    max_running: int
    max_running_per_tenant: int
    tenant_label: str
    adopt_interval: timedelta
    schedule_interval: timedelta

    @classmethod
    def from_env(cls) -> SchedulerConfig:
        return cls(
            common=CommonConfig.from_env(),
            listen=env_str("HELICASE_SCHEDULER_ADDR", "127.0.0.1:50053"),
            scheduler_id=env_str("HELICASE_SCHEDULER_ID", f"{host_name()}-{os.getpid()}"),
            max_running=env_int("HELICASE_SCHEDULER_MAX_RUNNING", 1000, minimum=1),
            max_running_per_tenant=env_int(
                "HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT", 0, minimum=0
            ),
            tenant_label=env_str("HELICASE_TENANT_LABEL", "tenant"),
            adopt_interval=env_duration("HELICASE_ADOPT_INTERVAL", timedelta(seconds=5)),
            schedule_interval=env_duration("HELICASE_SCHEDULE_INTERVAL", timedelta(seconds=1)),
        )

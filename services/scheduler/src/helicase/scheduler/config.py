"""The scheduler's configuration: its settings, declared once (README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import (
    ServiceConfig,
    duration,
    from_setting,
    host_name,
    integer,
    string,
)

LISTEN = string("HELICASE_SCHEDULER_ADDR", "127.0.0.1:50053", "health/reflection address")
SCHEDULER_ID = string(
    "HELICASE_SCHEDULER_ID",
    "",
    "this scheduler's id, written into its owner nodes",
    computed=lambda: f"{host_name()}-{os.getpid()}",
    shown="host name and pid",
)
MAX_RUNNING = integer(
    "HELICASE_SCHEDULER_MAX_RUNNING",
    1000,
    "most workflows this scheduler runs at once; further launches wait, uncommitted",
    minimum=1,
)
MAX_IN_FLIGHT_BYTES = integer(
    "HELICASE_SCHEDULER_MAX_IN_FLIGHT_BYTES",
    256 * 2**20,
    "bytes of commands this scheduler holds at once (a launch carries its whole workflow, up to"
    " 8 MiB; launches waiting for their own tenant's running limit do not count); beyond, it"
    " reads no more until some are done",
    minimum=2**20,
)
MAX_RUNNING_PER_TENANT = integer(
    "HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT",
    0,
    "most workflows of one tenant this scheduler runs at once, unless set for the tenant"
    " (AdminService.UpdateTenantLimits); 0: no limit",
    minimum=0,
)
ADOPT_INTERVAL = duration(
    "HELICASE_ADOPT_INTERVAL", "5s", "how often to look for running workflows without an owner"
)
SCHEDULE_INTERVAL = duration(
    "HELICASE_SCHEDULE_INTERVAL", "1s", "how often the firing scheduler looks for due schedules"
)


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig(ServiceConfig):
    listen: str = from_setting(LISTEN)
    scheduler_id: str = from_setting(SCHEDULER_ID)
    max_running: int = from_setting(MAX_RUNNING)
    max_running_per_tenant: int = from_setting(MAX_RUNNING_PER_TENANT)
    max_in_flight_bytes: int = from_setting(MAX_IN_FLIGHT_BYTES)
    adopt_interval: timedelta = from_setting(ADOPT_INTERVAL)
    schedule_interval: timedelta = from_setting(SCHEDULE_INTERVAL)

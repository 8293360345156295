"""When a schedule fires (pure): cron expressions read in a time zone, on aware datetimes.

Used by the api (validation, next fire time) and the scheduler (what is due). Missed times are
not made up one by one: after an outage a schedule fires once, for the latest time it missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from helicase.v1 import workflow_pb2

ALIASES = frozenset(
    {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
)


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule we accept, or None. Five fields or an alias only
    (croniter's seconds and year fields are refused, so every client reads it the same way)."""
    text = expression.strip()
    if not text:
        return "is required"
    if text.startswith("@"):
        return None if text in ALIASES else f"unknown alias {text!r}"
    if len(text.split()) != 5:
        return "needs five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(text):
        return f"{text!r} is not a valid cron expression"
    return None


def zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone, or None (empty means UTC)."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}"
    return None


HORIZON_YEARS = 50
"""A schedule must name a fire time within this many years of any moment: one that does not
("0 0 30 2 *", February 30th) is refused at create, and one stored anyway never fires."""


class CannotFire(ValueError):
    """A stored schedule that can never fire (its cron names no time within HORIZON_YEARS, or
    its time zone is no longer known); the message says why."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CannotFire(f"unknown time zone {name!r}") from exc


def _cron(expression: str, start: datetime) -> croniter:
    try:
        return croniter(expression.strip(), start, max_years_between_matches=HORIZON_YEARS)
    except CroniterError as exc:
        raise CannotFire(f"{expression.strip()!r} is not a valid cron expression") from exc


def _step(expression: str, zone: str, start: datetime, *, forward: bool) -> datetime:
    """The fire time next after (or last before) `start`, in UTC; CannotFire if there is none
    within HORIZON_YEARS."""
    schedule = _cron(expression, start.astimezone(_zone(zone)))
    try:
        found: datetime = schedule.get_next(datetime) if forward else schedule.get_prev(datetime)
    except CroniterError as exc:
        raise CannotFire(
            f"{expression.strip()!r} names no time within {HORIZON_YEARS} years"
        ) from exc
    return found.astimezone(UTC)


def next_after(expression: str, zone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after` (UTC); CannotFire if there is none within
    HORIZON_YEARS."""
    return _step(expression, zone, after, forward=True)


def firing_problem(expression: str, zone: str, now: datetime) -> str | None:
    """Why a schedule (whose cron and zone are each well formed) would never fire, or None."""
    try:
        next_after(expression, zone, now)
    except CannotFire as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Due:
    """What to fire now: the latest cron time in (since, now], and how many earlier ones in that
    window are skipped (counted up to SKIPS_COUNTED)."""

    fire_time: datetime
    skipped: int


SKIPS_COUNTED = 1000


def due(expression: str, zone: str, since: datetime, now: datetime) -> Due | None:
    """The latest fire time in (since, now], or None if there is none yet; CannotFire if the
    schedule can never fire."""
    # Cron times fall on whole minutes: the latest one at or before `now` is the one before
    # now + 1 s.
    latest = _step(expression, zone, now + timedelta(seconds=1), forward=False)
    if latest <= since:
        return None
    skipped, at = 0, since
    while skipped < SKIPS_COUNTED:
        at = next_after(expression, zone, at)
        if at >= latest:
            break
        skipped += 1
    return Due(fire_time=latest, skipped=skipped)


def rfc3339(at: datetime) -> str:
    """`at` in UTC as 2026-11-25T10:15:00Z (the fire-time label and idempotency key)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SCHEDULE_LABEL = "helicase-schedule"
"""Label of every workflow a schedule creates: the schedule's id."""
FIRE_TIME_LABEL = "helicase-fire-time"
"""Label of every workflow a schedule creates: the cron time it was created for (rfc3339)."""


def request_id(schedule_id: str, fire_time: datetime) -> str:
    """The idempotency key of one firing: a firing never becomes two workflows."""
    return f"schedule/{schedule_id}/{rfc3339(fire_time)}"


def run_of(
    template: workflow_pb2.Workflow, schedule_id: str, fire_time: datetime
) -> workflow_pb2.Workflow:
    """The workflow one firing creates: the template with the schedule's labels."""
    workflow = workflow_pb2.Workflow()
    workflow.CopyFrom(template)
    workflow.ClearField("id")
    workflow.labels[SCHEDULE_LABEL] = schedule_id
    workflow.labels[FIRE_TIME_LABEL] = rfc3339(fire_time)
    return workflow

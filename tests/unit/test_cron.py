"""When schedules fire: cron expressions in time zones, missed times, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helicase.common import cron
from helicase.v1 import workflow_pb2

NOW = datetime(2026, 11, 25, 10, 15, 0, tzinfo=UTC)


def test_the_latest_missed_time_fires_once_and_earlier_ones_are_counted_as_skipped() -> None:
    found = cron.due("*/5 * * * *", "", NOW - timedelta(hours=1), NOW + timedelta(seconds=30))
    assert found == cron.Due(fire_time=NOW, skipped=11)


def test_nothing_is_due_until_the_next_time_and_a_time_fires_at_that_very_second() -> None:
    assert cron.due("*/5 * * * *", "", NOW, NOW + timedelta(minutes=4, seconds=59)) is None
    found = cron.due("*/5 * * * *", "", NOW - timedelta(seconds=1), NOW)
    assert found == cron.Due(fire_time=NOW, skipped=0)


def test_a_long_outage_of_a_frequent_schedule_fires_once_for_the_latest_time() -> None:
    found = cron.due("* * * * *", "", NOW - timedelta(days=30), NOW)
    assert found is not None
    assert found.fire_time == NOW
    assert found.skipped == cron.SKIPS_COUNTED


def test_cron_is_read_in_its_time_zone_across_daylight_saving() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    winter = cron.next_after("0 9 * * *", "Europe/Berlin", NOW)
    summer = cron.next_after("0 9 * * *", "Europe/Berlin", datetime(2026, 7, 1, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (8, 7)
    assert cron.next_after("@daily", "", NOW) == datetime(2026, 11, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "is required"),
        ("* * *", "needs five fields"),
        ("* * * * * *", "needs five fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("@sometimes", "unknown alias"),
    ],
)
def test_bad_cron_expressions_are_named(expression: str, problem: str) -> None:
    assert problem in (cron.cron_problem(expression) or "")


def test_valid_expressions_and_zones_pass() -> None:
    assert cron.cron_problem("0 */2 * * 1-5") is None
    assert cron.cron_problem("@hourly") is None
    assert cron.zone_problem("") is None
    assert cron.zone_problem("America/Chicago") is None
    assert "unknown time zone" in (cron.zone_problem("Mars/Olympus") or "")


def test_a_firing_gets_the_schedule_labels_and_a_key_of_its_own() -> None:
    template = workflow_pb2.Workflow(id="ignored", display_name="nightly", labels={"team": "a"})
    run = cron.run_of(template, "s1", NOW)
    assert run.id == ""
    assert dict(run.labels) == {
        "team": "a",
        cron.SCHEDULE_LABEL: "s1",
        cron.FIRE_TIME_LABEL: "2026-11-25T10:15:00Z",
    }
    assert cron.request_id("s1", NOW) == "schedule/s1/2026-11-25T10:15:00Z"
    assert template.labels == {"team": "a"}  # the template is left as it was


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"])
def test_a_cron_naming_no_real_date_never_fires_and_says_so(expression: str) -> None:
    assert cron.cron_problem(expression) is None  # well formed, yet no date matches
    assert "names no time within" in (cron.firing_problem(expression, "", NOW) or "")
    with pytest.raises(cron.CannotFire):
        cron.next_after(expression, "", NOW)
    with pytest.raises(cron.CannotFire):
        cron.due(expression, "", NOW - timedelta(days=400), NOW)


def test_a_rare_but_real_date_fires_and_a_vanished_zone_cannot() -> None:
    assert cron.firing_problem("0 0 29 2 *", "Europe/Berlin", NOW) is None
    with pytest.raises(cron.CannotFire, match="unknown time zone"):
        cron.next_after("* * * * *", "Gone/From_Tzdata", NOW)

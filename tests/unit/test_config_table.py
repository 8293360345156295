"""README.md's configuration table is the one documented list of the HELICASE_* variables: it
and the settings the code declares name the same variables with the same defaults, and the code
reads no HELICASE_* variable it does not declare."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helicase.api.config import ApiConfig
from helicase.common.config import (
    COMMON_SETTINGS,
    ConfigError,
    Setting,
    declared,
    duration,
    integer,
    settings_of,
)
from helicase.controller._config import ControllerConfig
from helicase.devstack.settings import SETTINGS as DEVSTACK_SETTINGS
from helicase.participant.config import ParticipantConfig
from helicase.scheduler.config import SchedulerConfig
from helicase.sink.config import SinkConfig

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(HELICASE_[A-Z0-9_]+)` \| (.*?) \| (.*?) \| (.*?) \|$")
# Named in the code, but not configuration: what a shell task finds in its environment, and
# the markers the local suite puts on its own processes.
NOT_SETTINGS = {
    "HELICASE_WORKFLOW_ID",
    "HELICASE_TASK_ID",
    "HELICASE_ATTEMPT",
    "HELICASE_DEVSTACK_HOME",
    "HELICASE_DEVSTACK_HEALTH_ADDR",
}


def all_settings() -> dict[str, Setting[Any]]:
    return declared(
        COMMON_SETTINGS,
        *(
            settings_of(cls)
            for cls in (ApiConfig, ControllerConfig, SchedulerConfig, SinkConfig, ParticipantConfig)
        ),
        DEVSTACK_SETTINGS,
    )


def readme_table() -> dict[str, str]:
    """The configuration section's rows: variable -> default as written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is in the table twice"
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_readme_table_lists_every_declared_setting_and_nothing_else() -> None:
    documented, code = set(readme_table()), set(all_settings())
    assert sorted(code - documented) == [], "declared but missing from README.md"
    assert sorted(documented - code) == [], "in README.md but declared nowhere"


def test_the_readme_table_gives_each_setting_its_declared_default() -> None:
    table = readme_table()
    wrong = {
        name: (table[name], setting.documented_default)
        for name, setting in all_settings().items()
        if name in table and table[name] != setting.documented_default
    }
    assert wrong == {}, "README default != declared default"


def test_the_code_reads_no_undeclared_helicase_variable() -> None:
    known = set(all_settings()) | NOT_SETTINGS
    sources = [
        path
        for top in ("services", "libs", "scripts", "bench")
        for path in (ROOT / top).rglob("*.py")
        if "/helicase/v1/" not in path.as_posix()
    ]
    named = {
        (name, path.relative_to(ROOT).as_posix())
        for path in sources
        for name in re.findall(r"[\"'](HELICASE_[A-Z0-9_]+)[\"']", path.read_text())
    }
    assert sorted((name, path) for name, path in named if name not in known) == []


def test_a_setting_rejects_a_bad_value_naming_the_variable() -> None:
    limit = integer("HELICASE_X", 1, "", minimum=1)
    with pytest.raises(ConfigError, match=r"HELICASE_X='many' is not an integer"):
        limit.read({"HELICASE_X": "many"})
    with pytest.raises(ConfigError, match=r"HELICASE_X=0 is below the minimum 1"):
        limit.read({"HELICASE_X": "0"})
    with pytest.raises(ConfigError, match=r"HELICASE_Y: 'soon' is not a duration"):
        duration("HELICASE_Y", "1s", "").read({"HELICASE_Y": "soon"})
    assert limit.read({"HELICASE_X": "  "}) == 1  # blank is unset
    assert duration("HELICASE_Y", "1s", "").read({"HELICASE_Y": "250ms"}).total_seconds() == 0.25

"""The CLI's offline parts for schedules, resources, credentials and experiments: reading their
files (bare or as a Create...Request, JSON or YAML), refusing bad ones before any call (exit 2),
paging, rendering (never a private key), and following an experiment to its end; no api needed."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from rich.console import Console, RenderableType

from helicase.cli._base import collect_pages
from helicase.cli._input import InputError, read_workflow, to_request
from helicase.cli._render_objects import (
    credential_view,
    experiment_view,
    schedule_list,
    schedule_view,
)
from helicase.client._schedules_resources_experiments import ScheduleResourceExperimentCalls
from helicase.v1 import experiment_pb2, resource_pb2, schedule_pb2, workflow_pb2

ROOT = Path(__file__).resolve().parents[2]
HELICASE = ROOT / ".venv" / "bin" / "helicase"
T = TypeVar("T")

SCHEDULE = {
    "displayName": "nightly",
    "cron": "0 2 * * *",
    "timeZone": "Europe/Berlin",
    "workflow": {"tasks": [{"id": "a", "type": "noop"}]},
}


def text(renderable: RenderableType) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # An address nothing listens on: every case here must end before any call.
    return subprocess.run(
        [str(HELICASE), "--api", "127.0.0.1:1", "--timeout", "1", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bare_schedule_and_a_create_request_give_the_same_schedule(tmp_path: Path) -> None:
    bare = tmp_path / "s.yaml"
    bare.write_text(yaml.safe_dump(SCHEDULE))
    wrapped = {"requestId": "r-1", "schedule": SCHEDULE}
    from_bare = to_request(
        read_workflow(str(bare)), schedule_pb2.CreateScheduleRequest(), "schedule"
    )
    from_wrapped = to_request(wrapped, schedule_pb2.CreateScheduleRequest(), "schedule")
    assert from_bare.schedule == from_wrapped.schedule
    assert from_bare.schedule.time_zone == "Europe/Berlin"
    assert [t.id for t in from_bare.schedule.workflow.tasks] == ["a"]
    assert (from_bare.request_id, from_wrapped.request_id) == ("", "r-1")


def test_snake_case_wrappers_and_enum_names_are_read() -> None:
    raw = {
        "compute_resource": {
            "host": "login.example",
            "login_user": "gw",
            "batch_system": "BATCH_SYSTEM_FORK",
        }
    }
    request = to_request(raw, resource_pb2.CreateComputeResourceRequest(), "compute_resource")
    assert request.compute_resource.batch_system == resource_pb2.BATCH_SYSTEM_FORK
    assert request.compute_resource.login_user == "gw"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"cron": "* * * * *", "colour": "red"}, "colour"),
        ({"cron": 5, "workflow": {"tasks": "x"}}, "cron|tasks"),
    ],
)
def test_a_document_that_is_no_schedule_is_an_input_error(
    raw: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        to_request(raw, schedule_pb2.CreateScheduleRequest(), "schedule")


def test_bad_files_exit_2_before_any_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cron: '* * * * *'\nfrequency: often\n")
    for args in (
        ("schedules", "create", str(bad)),
        ("resources", "compute", "create", str(tmp_path / "absent.json")),
        ("resources", "storage", "create", "-"),
        ("experiments", "create", str(bad)),
        ("credentials", "create", "--private-key-file", str(tmp_path / "absent_key")),
    ):
        done = cli(*args, stdin="- not an object\n")
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error: "), done.stderr
    assert "frequency" in cli("schedules", "create", str(bad)).stderr
    key = tmp_path / "empty_key"
    key.write_text("\n")
    empty = cli("credentials", "create", "--private-key-file", str(key))
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_an_unreachable_api_exits_3_with_the_grpc_code() -> None:
    done = cli("schedules", "list")
    assert done.returncode == 3
    assert done.stderr.split(":")[0] in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


def test_help_lists_the_new_command_groups() -> None:
    shown = cli("--help").stdout
    for group in ("schedules", "resources", "credentials", "experiments"):
        assert group in shown
    assert {"pause", "resume", "delete"} <= set(cli("schedules", "--help").stdout.split())
    assert {"compute", "storage"} <= set(cli("resources", "--help").stdout.split())


def test_paging_follows_tokens_only_when_asked() -> None:
    pages = {"": (["a", "b"], "t1"), "t1": (["c"], "t2"), "t2": (["d"], "")}
    asked: list[str] = []

    async def fetch(token: str) -> schedule_pb2.ListSchedulesResponse:
        asked.append(token)
        ids, following = pages[token]
        return schedule_pb2.ListSchedulesResponse(
            schedules=[schedule_pb2.Schedule(id=i) for i in ids], next_page_token=following
        )

    def ids(found: tuple[list[schedule_pb2.Schedule], str]) -> tuple[list[str], str]:
        return [s.id for s in found[0]], found[1]

    one = asyncio.run(collect_pages(fetch, lambda r: r.schedules, "", False))
    assert ids(one) == (["a", "b"], "t1")
    every = asyncio.run(collect_pages(fetch, lambda r: r.schedules, "t1", True))
    assert ids(every) == (["c", "d"], "")
    assert asked == ["", "t1", "t2"]


def test_a_schedule_shows_its_next_fire_time_status_and_recent_runs() -> None:
    schedule = schedule_pb2.Schedule(id="s-1", display_name="nightly", cron="0 2 * * *")
    schedule.next_fire_time.FromSeconds(1_800_000_000)
    run = schedule.recent_runs.add(workflow_id="wf-9", state=workflow_pb2.WORKFLOW_STATE_FAILED)
    run.fire_time.FromSeconds(1_799_913_600)
    shown = text(schedule_view(schedule))
    assert "2027-01-15 08:00:00" in shown  # next fire, UTC
    assert "active" in shown and "UTC" in shown
    assert "wf-9" in shown and "FAILED" in shown and "2027-01-14 08:00:00" in shown
    schedule.paused = True
    assert "paused" in text(schedule_list([schedule], "next"))
    assert "--page-token next" in text(schedule_list([schedule], "next"))


def test_a_credential_view_never_shows_a_private_key() -> None:
    credential = resource_pb2.Credential(
        id="c-1",
        display_name="gw",
        private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
        public_key="ssh-ed25519 AAAAC3Nz gw\n",
        fingerprint="SHA256:abc",
    )
    shown = text(credential_view(credential))
    assert "SHA256:abc" in shown and "ssh-ed25519 AAAAC3Nz gw" in shown
    assert "PRIVATE" not in shown and "secret" not in shown


def test_an_experiment_shows_its_job_outputs_and_failure() -> None:
    experiment = experiment_pb2.Experiment(
        id="e-1",
        state=experiment_pb2.EXPERIMENT_STATE_FAILED,
        application=experiment_pb2.ApplicationSpec(executable="/bin/sh", arguments=["run.sh"]),
        job_id="42",
        job_exit_code=3,
        output_locations=["sftp://gw@host:22/out/result.txt"],
        message="job exited 3",
    )
    shown = text(experiment_view(experiment))
    for part in ("FAILED", "/bin/sh run.sh", "42", "sftp://gw@host:22/out/result.txt"):
        assert part in shown
    assert "job exited 3" in shown


class _Scripted(ScheduleResourceExperimentCalls):
    """GetExperiment answered from a script of states (no api)."""

    _timeout = 1.0

    def __init__(self, states: list[int]) -> None:
        self.states = states
        self.calls = 0

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        raise AssertionError("not used")

    async def get_experiment(self, experiment_id: str) -> experiment_pb2.Experiment:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return experiment_pb2.Experiment(id=experiment_id, state=state)  # type: ignore[arg-type]


def test_watching_an_experiment_yields_each_change_until_it_is_terminal() -> None:
    s = experiment_pb2
    scripted = _Scripted(
        [
            s.EXPERIMENT_STATE_CREATED,
            s.EXPERIMENT_STATE_JOB_ACTIVE,
            s.EXPERIMENT_STATE_JOB_ACTIVE,
            s.EXPERIMENT_STATE_COMPLETED,
            s.EXPERIMENT_STATE_FAILED,  # never read: COMPLETED ends the watch
        ]
    )

    async def follow() -> list[int]:
        return [e.state async for e in scripted.watch_experiment("e-1", poll=0)]

    assert asyncio.run(follow()) == [
        s.EXPERIMENT_STATE_CREATED,
        s.EXPERIMENT_STATE_JOB_ACTIVE,
        s.EXPERIMENT_STATE_COMPLETED,
    ]
    assert scripted.calls == 4

    stuck = _Scripted([s.EXPERIMENT_STATE_JOB_ACTIVE])

    async def give_up() -> None:
        async for _ in stuck.watch_experiment("e-2", poll=0.01, within=0.05):
            pass

    with pytest.raises(TimeoutError, match="JOB_ACTIVE"):
        asyncio.run(give_up())

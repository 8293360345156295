"""Task processes on a real suite: a shell task sees none of the participant's secrets and, when
the participant is root, runs as an unprivileged user; a participant without shell enabled runs
no shell; an output substituted into a shell command arrives as text, never as shell code."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest

from helicase.client import HelicaseClient
from helicase.devstack.testing import RunningSuite
from helicase.v1 import workflow_pb2
from tests.integration.helpers import request, run_to_end, state, task_states

SECRET_NAME = re.compile(r"TOKEN|KEY|PASSWORD|SECRET|CREDENTIAL|DATABASE_URL|CERT|PKI|TLS")


def secrets_given_to(suite: RunningSuite, participant: str) -> dict[str, str]:
    """Every secret-looking variable of `participant`'s running process (what the harness and
    the supervisor gave it: tokens, its certificate and key paths), and the contents of the files
    those name (keys, certificates)."""
    pid = suite.supervisor.pid(participant)
    assert pid is not None, f"{participant} is not running"
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(entry.decode(errors="replace").split("=", 1) for entry in raw if b"=" in entry)
    found: dict[str, str] = {}
    for name, value in env.items():
        if not SECRET_NAME.search(name) or len(value) < 8:
            continue
        found[name] = value
        path = Path(value)
        if path.is_file():
            found[f"{name} (file)"] = path.read_text(errors="replace").strip()
    return found


DUMP = "env; cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n'"
"""The task's environment, and its participant's if the task can read it."""


def stdout(task: workflow_pb2.Task) -> str:
    return str(task.outputs["stdout"])


def shell(task_id: str, command: str, **task: Any) -> dict[str, Any]:
    return {"id": task_id, "type": "shell", "params": {"command": command}, **task}


async def test_a_shell_tasks_environment_holds_no_secret_of_the_participant(suite: Any) -> None:
    # Also on a participant given a secret by its platform (an operator-injected token), besides
    # its own certificate and key.
    group = f"g{uuid.uuid4().hex[:8]}"
    token = {"PLATFORM_API_TOKEN": secrets.token_urlsafe(32)}
    with suite.extra_participant(group, token) as holder:
        assert {"PLATFORM_API_TOKEN", "HELICASE_TLS_KEY"} <= set(
            secrets_given_to(suite, holder.name)
        )
        async with HelicaseClient(suite.api_addr, token=suite.token) as client:
            done = await run_to_end(
                client, [shell("default", DUMP), shell("holder", DUMP, instanceGroup=group)]
            )
        given = {"default": secrets_given_to(suite, "participant-1"),
                 "holder": secrets_given_to(suite, holder.name)}  # fmt: skip
    assert state(done) == "COMPLETED", done
    for task in done.tasks:
        assert "HELICASE_DATABASE_URL" in given[task.id]
        seen = stdout(task)
        names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
        assert not names & set(given[task.id]), f"{task.id}: {sorted(names & set(given[task.id]))}"
        leaked = [name for name, value in given[task.id].items() if value in seen]
        assert not leaked, f"{task.id} saw the values of {leaked}"


@pytest.mark.skipif(os.geteuid() != 0, reason="tasks drop privileges only under a root participant")
async def test_under_a_root_participant_a_shell_task_runs_unprivileged(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, [shell("who", "id -u; touch in-my-workdir; echo ok")])
    assert state(done) == "COMPLETED", done
    uid, wrote = stdout(done.tasks[0]).split()
    assert int(uid) != 0 and wrote == "ok"


async def test_a_participant_without_shell_enabled_runs_no_shell(
    suite: Any, shared_dir: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    off = {"HELICASE_PARTICIPANT_ENABLE_SHELL": "0"}
    marker = shared_dir / "ran"
    with suite.extra_participant(group, off):
        current = await refused_shell_run(suite, group, marker)
    states = task_states(current)
    assert states["works"] == "COMPLETED"
    assert states["refused"] in ("PENDING", "READY"), states
    assert not marker.exists()


async def refused_shell_run(suite: Any, group: str, marker: Path) -> workflow_pb2.Workflow:
    """Runs a noop and a shell task in `group`; the workflow once the noop is done and the
    shell task had time to run, were it placed (then cancelled)."""
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        served = {t.name: list(t.instance_groups) for t in await client.task_types(group)}
        assert "noop" in served and "shell" not in served
        created = await client.create(
            request(
                [
                    {"id": "works", "type": "noop", "instanceGroup": group},
                    shell("refused", f"touch {marker}", instanceGroup=group),
                ]
            )
        )
        for _ in range(100):
            current = await client.get(created.id)
            if task_states(current)["works"] == "COMPLETED":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # time enough to run the shell task, were it placed
        current = await client.get(created.id)
        await client.cancel(created.id, "test over")
    return current


async def test_an_output_is_passed_into_a_shell_command_as_text(
    suite: Any, shared_dir: Path
) -> None:
    pwned = shared_dir / "pwned"
    evil = f"$(touch {pwned}); touch {pwned}; `touch {pwned}` ' \" $HOME"
    tasks = [
        {"id": "make", "type": "shell", "params": {"command": 'printf %s "$EVIL"',
                                                   "env": {"EVIL": evil}}},
        shell("use", 'printf %s "${tasks.make.outputs.stdout}"', dependsOn=["make"]),
        shell("bare", "echo ${tasks.make.outputs.stdout}", dependsOn=["make"]),
    ]  # fmt: skip
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, tasks)
    assert state(done) == "COMPLETED", done
    outputs = {t.id: stdout(t) for t in done.tasks}
    assert outputs["make"] == evil
    assert outputs["use"] == evil
    assert outputs["bare"] == " ".join(evil.split()) + "\n"  # split into words, never run
    assert not pwned.exists()

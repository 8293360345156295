"""The `helicase` command line against a live suite, run in a real terminal (a pseudo-terminal
from pexpect, so Rich draws its live table as a person would see it), and piped (JSON output)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pexpect
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELICASE = ROOT / ".venv" / "bin" / "helicase"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def in_terminal(
    *args: str, stdin_file: Path | None = None, timeout: float = 120
) -> tuple[int, str]:
    """Runs `helicase ARGS` with its stdout on a pseudo-terminal; returns (exit code, screen text
    without escape codes)."""
    command = " ".join([str(HELICASE), *(f"'{a}'" for a in args)])
    if stdin_file is not None:
        command += f" < '{stdin_file}'"
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", command],
        env=env,
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, 140),
    )
    try:
        child.expect(pexpect.EOF)
        raw = child.before or ""
    finally:
        child.close()
    assert child.exitstatus is not None, f"helicase killed by signal {child.signalstatus}"
    return child.exitstatus, ANSI.sub("", raw)


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELICASE), *args], capture_output=True, text=True, timeout=120, check=False
    )


def example(name: str, tmp_path: Path) -> Path:
    data: dict[str, Any] = json.loads((ROOT / "examples" / name).read_text())
    data["requestId"] = str(uuid.uuid4())
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_submit_and_watch_a_workflow_to_completion_in_a_terminal(
    suite: Any, tmp_path: Path
) -> None:
    code, screen = in_terminal(
        "--api",
        suite.api_addr,
        "--token",
        suite.token,
        "submit",
        "--watch",
        str(example("diamond.json", tmp_path)),
    )
    assert code == 0, screen
    assert "submitted" in screen
    assert "COMPLETED" in screen
    assert "4/4 tasks finished" in screen
    for task in ("fetch", "left", "right", "join"):
        assert task in screen
    workflow_id = re.search(r"submitted (\S+)", screen)
    assert workflow_id

    # `watch` of a finished workflow draws it once and exits at once, 0 for COMPLETED.
    code, screen = in_terminal(
        "--api", suite.api_addr, "--token", suite.token, "watch", workflow_id.group(1)
    )
    assert code == 0 and "COMPLETED" in screen, screen


def test_a_fatal_failure_makes_watch_exit_non_zero(suite: Any, tmp_path: Path) -> None:
    created = piped(
        "--api",
        suite.api_addr,
        "--token",
        suite.token,
        "submit",
        str(example("fatal.json", tmp_path)),
    )
    assert created.returncode == 0, created.stderr
    workflow_id = created.stdout.strip()

    code, screen = in_terminal(
        "--api", suite.api_addr, "--token", suite.token, "watch", workflow_id
    )
    assert code == 1, screen
    assert "FAILED" in screen and "FATAL_FAILED" in screen
    assert "login" in screen


def test_yaml_from_standard_input_and_json_output_for_scripts(suite: Any, tmp_path: Path) -> None:
    workflow = {
        "requestId": str(uuid.uuid4()),
        "workflow": {
            "displayName": "from-yaml",
            "tasks": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]}],
        },
    }
    source = tmp_path / "wf.yaml"
    source.write_text(yaml.safe_dump(workflow))
    tag = uuid.uuid4().hex[:8]
    code, screen = in_terminal(
        "--api",
        suite.api_addr,
        "-o",
        "json",
        "submit",
        "-w",
        "-l",
        f"cli={tag}",
        "-",
        stdin_file=source,
    )
    assert code == 0, screen
    updates = [json.loads(line) for line in screen.splitlines() if line.startswith("{")]
    assert updates[-1]["state"] == "WORKFLOW_STATE_COMPLETED"
    assert updates[-1]["labels"] == {"cli": tag}

    listed = piped(
        "--api",
        suite.api_addr,
        "--token",
        suite.token,
        "-o",
        "json",
        "list",
        "-l",
        f"cli={tag}",
        "-s",
        "completed",
    )
    assert listed.returncode == 0, listed.stderr
    (only,) = json.loads(listed.stdout)["workflows"]
    assert only["displayName"] == "from-yaml"

    got = piped("--api", suite.api_addr, "--token", suite.token, "-o", "json", "get", only["id"])
    assert [t["id"] for t in json.loads(got.stdout)["tasks"]] == ["a", "b"]


def test_listing_pages_cancelling_and_task_types(suite: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = []
    for _ in range(3):
        path = example("hello.json", tmp_path)
        done = piped(
            "--api",
            suite.api_addr,
            "--token",
            suite.token,
            "submit",
            "-l",
            f"page={tag}",
            str(path),
        )
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())
    first = json.loads(
        piped(
            "--api",
            suite.api_addr,
            "--token",
            suite.token,
            "-o",
            "json",
            "list",
            "-l",
            f"page={tag}",
            "--page-size",
            "2",
        ).stdout
    )
    assert len(first["workflows"]) == 2 and first["nextPageToken"]
    every = json.loads(
        piped(
            "--api",
            suite.api_addr,
            "-o",
            "json",
            "list",
            "-l",
            f"page={tag}",
            "--page-size",
            "2",
            "--all",
        ).stdout
    )
    assert sorted(w["id"] for w in every["workflows"]) == sorted(ids)

    sleeper = tmp_path / "sleep.json"
    sleeper.write_text(
        json.dumps(
            {"workflow": {"tasks": [{"id": "s", "type": "sleep", "params": {"seconds": 60}}]}}
        )
    )
    workflow_id = piped(
        "--api", suite.api_addr, "--token", suite.token, "submit", str(sleeper)
    ).stdout.strip()
    cancelled = piped(
        "--api", suite.api_addr, "--token", suite.token, "cancel", workflow_id, "--reason", "test"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    code, screen = in_terminal(
        "--api", suite.api_addr, "--token", suite.token, "watch", workflow_id
    )
    assert code == 1 and "CANCELED" in screen, screen

    code, screen = in_terminal("--api", suite.api_addr, "--token", suite.token, "task-types")
    assert code == 0
    for name in ("noop", "sleep", "shell"):
        assert name in screen


def test_bad_input_is_reported_with_its_field_and_exit_codes_tell_why(
    suite: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"workflow": {"tasks": [{"id": "a", "type": "no-such-type"}]}}))
    refused = piped("--api", suite.api_addr, "--token", suite.token, "submit", str(bad))
    assert refused.returncode == 3
    assert "INVALID_ARGUMENT" in refused.stderr and "tasks[0]" in refused.stderr

    missing = piped("--api", suite.api_addr, "--token", suite.token, "get", "no-such-workflow")
    assert missing.returncode == 3 and "NOT_FOUND" in missing.stderr

    unreadable = piped(
        "--api", suite.api_addr, "--token", suite.token, "submit", str(tmp_path / "absent.json")
    )
    assert unreadable.returncode == 2 and "absent.json" in unreadable.stderr

    # The address comes from HELICASE_API_ADDR when --api is not given.
    env = {**os.environ, "HELICASE_API_ADDR": suite.api_addr, "HELICASE_TOKEN": suite.token}
    listed = subprocess.run(
        [str(HELICASE), "list", "--page-size", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr

"""A gateway in Go and one in TypeScript (Connect's gRPC transport for Node) submit the design's
example workflow to a live suite with the clients generated in clients/ and follow it to its end:
task `a` completes, task `b` exits 3 (a fatal exit code), so the workflow stops FAILED. Each
sends the suite's token (`authorization: Bearer`), from its flag or from HELICASE_TOKEN."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello.json"  # the design's example
TSX = ROOT / "node_modules" / ".bin" / "tsx"


def check_design_example_outcome(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    workflow: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert workflow["state"] == "WORKFLOW_STATE_FAILED"
    assert workflow["displayName"] == "hello"
    states = {t["id"]: t["state"] for t in workflow["tasks"]}
    assert states == {"a": "TASK_STATE_COMPLETED", "b": "TASK_STATE_FATAL_FAILED"}
    assert "created" in done.stderr


def test_the_go_client_submits_the_design_example_and_follows_it_to_its_end(
    suite: Any, tmp_path: Path
) -> None:
    program = tmp_path / "helicase-example"
    built = subprocess.run(
        ["go", "build", "-o", str(program), "./cmd/helicase-example"],
        cwd=ROOT / "clients" / "go",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    done = subprocess.run(
        [
            str(program),
            "-api",
            suite.api_addr,
            "-file",
            str(EXAMPLE),
            "-within",
            "2m",
            "-token",
            suite.token,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    check_design_example_outcome(done)
    anonymous = subprocess.run(
        [str(program), "-api", suite.api_addr, "-file", str(EXAMPLE), "-within", "30s"],
        env={k: v for k, v in os.environ.items() if k != "HELICASE_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert anonymous.returncode == 1 and "Unauthenticated" in anonymous.stderr


def test_the_typescript_client_submits_the_design_example_and_follows_it_to_its_end(
    suite: Any,
) -> None:
    done = subprocess.run(
        [
            str(TSX),
            str(ROOT / "clients" / "ts" / "examples" / "submit.ts"),
            "--api",
            suite.api_addr,
            "--file",
            str(EXAMPLE),
        ],
        env={**os.environ, "HELICASE_TOKEN": suite.token},  # the variable, the Go test the flag
        capture_output=True,
        text=True,
        timeout=180,
    )
    check_design_example_outcome(done)

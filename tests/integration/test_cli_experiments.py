"""`helicase experiments` end to end through the command line only: the resources and the key are
registered with `helicase resources`/`credentials`, an experiment runs a program through the
loopback cluster's real SLURM (sshd + one-node SLURM from the harness) and `experiments watch`
follows it in a real terminal; a long job is cancelled and `watch` then exits 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pexpect
import pytest
import yaml

from helicase.api.resources.credentials import new_master_key
from helicase.devstack.testing import LoopbackCluster
from helicase.participant.airavata import TYPES

ROOT = Path(__file__).resolve().parents[2]
HELICASE = ROOT / ".venv" / "bin" / "helicase"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
PROGRAM = """#!/bin/sh
awk '{ s += $1 } END { print "sum=" s }' "$1" > "$2"
"""


@pytest.fixture(scope="module")
def hpc_suite(make_module_suite: Any, hpc_cluster: LoopbackCluster) -> Any:
    return make_module_suite(
        extra_env={
            "HELICASE_CREDENTIAL_KEY": new_master_key(),
            "HELICASE_PARTICIPANT_TASK_TYPES": ",".join(["noop", "sleep", "shell", *TYPES]),
        }
    )


def helicase(suite: Any, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELICASE), "--api", suite.api_addr, *args],
        input=stdin,
        env={**os.environ, "COLUMNS": "250", "HELICASE_TOKEN": suite.token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_json(suite: Any, *args: str, stdin: str = "") -> Any:
    done = helicase(suite, "-o", "json", *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def watch_in_terminal(suite: Any, experiment_id: str, timeout: float = 180) -> tuple[int, str]:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    env["HELICASE_TOKEN"] = suite.token
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        str(HELICASE),
        ["--api", suite.api_addr, "experiments", "watch", experiment_id],
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


def register(suite: Any, cluster: LoopbackCluster, storage_root: Path, tmp: Path) -> dict[str, str]:
    """The compute and storage resources and the key, each through the CLI."""
    compute = tmp / "compute.yaml"
    compute.write_text(
        yaml.safe_dump(
            {
                "displayName": "loopback slurm",
                "host": cluster.host,
                "port": cluster.ssh_port,
                "loginUser": cluster.user,
                "batchSystem": "BATCH_SYSTEM_SLURM",
                "scratchRoot": str(cluster.home / "scratch"),
                "defaultQueue": "debug",
                "hostKey": cluster.host_key,
            }
        )
    )
    storage = {
        "storageResource": {
            "host": cluster.host,
            "port": cluster.ssh_port,
            "loginUser": cluster.user,
            "rootPath": str(storage_root),
            "hostKey": cluster.host_key,
        }
    }
    key = tmp / "gateway_key"
    key.write_text(cluster.client_private_key)
    credential = helicase(suite, "credentials", "create", "--private-key-file", str(key))
    assert credential.returncode == 0, credential.stderr
    assert "PRIVATE KEY" not in credential.stdout
    found = re.search(r"^id\s+(\S+)", credential.stdout, re.MULTILINE)
    assert found, credential.stdout
    return {
        "computeResourceId": as_json(suite, "resources", "compute", "create", str(compute))["id"],
        "storageResourceId": as_json(
            suite, "resources", "storage", "create", "-", stdin=json.dumps(storage)
        )["id"],
        "credentialId": found.group(1),
    }


def test_an_experiment_created_and_watched_from_the_cli_runs_through_slurm(
    hpc_suite: Any, hpc_cluster: LoopbackCluster, tmp_path: Path
) -> None:
    storage_root = hpc_cluster.home / f"storage-cli-{hpc_suite.namespace}"
    run = f"run-{uuid.uuid4().hex[:6]}"
    for name, text in (("numbers.txt", "3\n4\n5\n"), ("sum.sh", PROGRAM)):
        (storage_root / run / "in").mkdir(parents=True, exist_ok=True)
        (storage_root / run / "in" / name).write_text(text)
    ids = register(hpc_suite, hpc_cluster, storage_root, tmp_path)
    source = tmp_path / "experiment.yaml"
    source.write_text(
        yaml.safe_dump(
            {
                "displayName": "sum from the cli",
                "application": {
                    "executable": "/bin/sh",
                    "arguments": ["sum.sh", "numbers.txt", "result.txt"],
                },
                "inputs": [
                    {"storagePath": f"{run}/in/numbers.txt", "name": "numbers.txt"},
                    {"storagePath": f"{run}/in/sum.sh", "name": "sum.sh"},
                ],
                "outputs": [{"storagePath": f"{run}/out/result.txt", "name": "result.txt"}],
                "resourceRequest": {"walltimeMinutes": 5, "memoryMb": 64},
                **ids,
            }
        )
    )
    created = as_json(hpc_suite, "experiments", "create", str(source))
    assert created["workflowId"]

    code, screen = watch_in_terminal(hpc_suite, created["id"])
    assert code == 0, (screen, hpc_suite.log("participant-1"))
    assert "COMPLETED" in screen and "result.txt" in screen
    assert (storage_root / run / "out" / "result.txt").read_text() == "sum=12\n"

    shown = as_json(hpc_suite, "experiments", "get", created["id"])
    assert shown["state"] == "EXPERIMENT_STATE_COMPLETED" and shown["jobId"].isdigit()
    listed = as_json(hpc_suite, "experiments", "list", "--all")["experiments"]
    assert created["id"] in [e["id"] for e in listed]


def test_an_experiment_cancelled_from_the_cli_makes_watch_exit_1(
    hpc_suite: Any, hpc_cluster: LoopbackCluster, tmp_path: Path
) -> None:
    storage_root = hpc_cluster.home / f"storage-cli-{hpc_suite.namespace}"
    storage_root.mkdir(parents=True, exist_ok=True)
    ids = register(hpc_suite, hpc_cluster, storage_root, tmp_path)
    application = {"executable": "sleep", "arguments": ["300"]}
    long_job = {"displayName": "a long job", "application": application, **ids}
    created = as_json(hpc_suite, "experiments", "create", "-", stdin=json.dumps(long_job))
    state = ""
    for _ in range(200):
        got = as_json(hpc_suite, "experiments", "get", created["id"])
        state = got["state"]
        if state == "EXPERIMENT_STATE_JOB_ACTIVE" and got.get("jobId"):
            break
        time.sleep(0.3)
    assert state == "EXPERIMENT_STATE_JOB_ACTIVE"

    cancelled = helicase(hpc_suite, "experiments", "cancel", created["id"], "--reason", "test")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cleanup workflow" in cancelled.stdout

    code, screen = watch_in_terminal(hpc_suite, created["id"])
    assert code == 1 and "CANCELED" in screen, screen

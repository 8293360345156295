"""The `helicase` schedules, resources, credentials and experiments commands against live suites
(schedules: the full suite, so the scheduler fires them; the rest: an api, with credentials sealed
by a real HELICASE_CREDENTIAL_KEY, and a participant): what they print for people and for
scripts, and their exit codes when the api refuses."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import asyncssh
import psycopg
import pytest
import yaml

from helicase.api.resources.credentials import new_master_key

ROOT = Path(__file__).resolve().parents[2]
HELICASE = ROOT / ".venv" / "bin" / "helicase"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture(scope="module")
def api(make_module_suite: Any) -> Any:
    return make_module_suite(
        ["api", "participant-1"], extra_env={"HELICASE_CREDENTIAL_KEY": new_master_key()}
    )


def helicase(api: Any, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELICASE), "--api", api.api_addr, *args],
        input=stdin,
        env={**os.environ, "COLUMNS": "250", "HELICASE_TOKEN": api.token},  # tables as wide as rows
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_json(api: Any, *args: str, stdin: str = "") -> Any:
    done = helicase(api, "-o", "json", *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def backdate(suite: Any, schedule_id: str, minutes: int) -> None:
    """As if the schedule had been active for `minutes` already (so its latest time fires)."""
    with psycopg.connect(suite.database_url) as conn:
        conn.execute(
            "UPDATE schedules SET active_since = active_since - make_interval(mins => %s)"
            " WHERE id = %s",
            (minutes, schedule_id),
        )


def test_schedules_are_created_shown_with_their_runs_paused_resumed_and_deleted(
    suite: Any, tmp_path: Path
) -> None:
    source = tmp_path / "minutely.yaml"
    name = f"minutely-{uuid.uuid4().hex[:6]}"
    source.write_text(
        yaml.safe_dump(
            {
                "displayName": name,
                "cron": "* * * * *",
                "timeZone": "Europe/Berlin",
                "workflow": {"displayName": name, "tasks": [{"id": "a", "type": "noop"}]},
            }
        )
    )
    created = as_json(suite, "schedules", "create", str(source))
    schedule_id = created["id"]
    assert created["nextFireTime"] and not created.get("paused")

    shown = helicase(suite, "schedules", "get", schedule_id)
    assert shown.returncode == 0, shown.stderr
    assert name in shown.stdout and "Europe/Berlin" in shown.stdout
    assert "next fire" in shown.stdout and "active" in shown.stdout

    # The scheduler fires the latest missed minute; `get` then lists that run.
    backdate(suite, schedule_id, minutes=2)
    runs: list[Any] = []
    for _ in range(150):
        runs = as_json(suite, "schedules", "get", schedule_id).get("recentRuns", [])
        if runs:
            break
        time.sleep(0.2)
    assert runs, "the schedule never fired"
    shown = helicase(suite, "schedules", "get", schedule_id)
    assert "recent runs" in shown.stdout and runs[0]["workflowId"] in shown.stdout

    listed = as_json(suite, "schedules", "list", "--all")
    assert schedule_id in [s["id"] for s in listed["schedules"]]

    paused = as_json(suite, "schedules", "pause", schedule_id)
    assert paused["paused"] is True and "nextFireTime" not in paused
    assert "paused" in helicase(suite, "schedules", "get", schedule_id).stdout
    resumed = as_json(suite, "schedules", "resume", schedule_id)
    assert not resumed.get("paused") and resumed["nextFireTime"]

    deleted = helicase(suite, "schedules", "delete", schedule_id)
    assert deleted.returncode == 0 and f"deleted {schedule_id}" in deleted.stdout
    gone = helicase(suite, "schedules", "get", schedule_id)
    assert gone.returncode == 3 and "NOT_FOUND" in gone.stderr
    # The workflow it created is kept.
    assert as_json(suite, "get", runs[0]["workflowId"])["displayName"] == name

    # A bad cron is refused by the api with its field, on stderr, exit 3; nothing is stored.
    bad = helicase(
        suite,
        "schedules",
        "create",
        "-",
        stdin=json.dumps(
            {"cron": "61 * * * *", "workflow": {"tasks": [{"id": "a", "type": "noop"}]}}
        ),
    )
    assert bad.returncode == 3, bad.stderr
    assert "INVALID_ARGUMENT" in bad.stderr and "schedule.cron" in bad.stderr
    after = as_json(suite, "schedules", "list", "--all")["schedules"]
    assert len(after) == len(listed["schedules"]) - 1


def test_resources_and_credentials_are_registered_and_listed(api: Any, tmp_path: Path) -> None:
    compute = {
        "displayName": "cluster",
        "host": "127.0.0.1",
        "port": 2222,
        "loginUser": "gateway",
        "batchSystem": "BATCH_SYSTEM_SLURM",
        "scratchRoot": "/scratch",
        "defaultQueue": "debug",
        "hostKey": HOST_KEY,
    }
    source = tmp_path / "compute.yaml"
    source.write_text(yaml.safe_dump(compute))
    made = as_json(api, "resources", "compute", "create", str(source))
    assert made["batchSystem"] == "BATCH_SYSTEM_SLURM" and made["id"]
    table = helicase(api, "resources", "compute", "list")
    assert made["id"] in table.stdout and "gateway@127.0.0.1:2222" in table.stdout
    assert as_json(api, "resources", "compute", "get", made["id"])["hostKey"] == HOST_KEY

    storage = {"host": "127.0.0.1", "loginUser": "gw", "rootPath": "/data", "hostKey": HOST_KEY}
    stored = as_json(
        api, "resources", "storage", "create", "-", stdin=json.dumps({"storageResource": storage})
    )
    listed = as_json(api, "resources", "storage", "list")["storageResources"]
    assert stored["id"] in [s["id"] for s in listed]
    assert "/data" in helicase(api, "resources", "storage", "get", stored["id"]).stdout

    refused = helicase(
        api, "resources", "compute", "create", "-", stdin=json.dumps({**compute, "host": ""})
    )
    assert refused.returncode == 3 and "compute_resource.host" in refused.stderr

    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(key.export_private_key())
    name = f"gw-{uuid.uuid4().hex[:6]}"
    shown = helicase(
        api, "credentials", "create", "--private-key-file", str(key_file), "--name", name
    )
    assert shown.returncode == 0, shown.stderr
    public = key.export_public_key().decode().split()[1]
    assert public in shown.stdout and "SHA256:" in shown.stdout
    assert "PRIVATE KEY" not in shown.stdout + shown.stderr
    listed_creds = as_json(api, "credentials", "list")["credentials"]
    (mine,) = [c for c in listed_creds if c["displayName"] == name]
    assert mine["fingerprint"].startswith("SHA256:") and "privateKey" not in mine
    assert "PRIVATE KEY" not in json.dumps(listed_creds)
    assert as_json(api, "credentials", "get", mine["id"])["publicKey"].split()[1] == public

    not_a_key = tmp_path / "not_a_key"
    not_a_key.write_text("hello\n")
    bad = helicase(api, "credentials", "create", "--private-key-file", str(not_a_key))
    assert bad.returncode == 3 and "credential.private_key" in bad.stderr


def test_experiments_naming_unknown_resources_are_refused_and_listing_works(api: Any) -> None:
    experiment = {
        "displayName": "nothing-registered",
        "application": {"executable": "/bin/true"},
        "computeResourceId": "no-such-compute",
        "storageResourceId": "no-such-storage",
        "credentialId": "no-such-credential",
    }
    refused = helicase(api, "experiments", "create", "-", stdin=json.dumps(experiment))
    assert refused.returncode == 3, refused.stderr
    assert "NOT_FOUND" in refused.stderr and "experiment.compute_resource_id" in refused.stderr
    listed = as_json(api, "experiments", "list")
    assert "nothing-registered" not in json.dumps(listed)
    missing = helicase(api, "experiments", "watch", "no-such-experiment")
    assert missing.returncode == 3 and "NOT_FOUND" in missing.stderr

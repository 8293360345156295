"""What a gateway developer does first: grpcurl against the api, with the design's JSON example."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = ROOT / ".helicase" / "bin" / "grpcurl"


def grpcurl(
    addr: str, *args: str, data: dict[str, Any] | None = None, token: str | None = None
) -> str:
    """grpcurl's output; with `token`, the call carries `-H "authorization: Bearer <token>"`
    as README's examples do."""
    assert GRPCURL.exists(), "grpcurl is missing: run `make install`"
    command = [str(GRPCURL), "-plaintext"]
    if token is not None:
        command += ["-H", f"authorization: Bearer {token}"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    result = subprocess.run(
        [*command, addr, *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_grpcurl_lists_creates_and_reads_back_the_design_example(suite: Any) -> None:
    services = grpcurl(suite.api_addr, "list").split()
    assert {
        "helicase.v1.WorkflowService",
        "helicase.v1.TaskTypeService",
        "grpc.health.v1.Health",
    } <= set(services)

    example = json.loads((ROOT / "examples" / "hello.json").read_text())
    example["requestId"] = str(uuid.uuid4())
    created = json.loads(
        grpcurl(
            suite.api_addr,
            "helicase.v1.WorkflowService/CreateWorkflow",
            data=example,
            token=suite.token,
        )
    )
    workflow_id = created["workflow"]["id"]
    assert workflow_id

    deadline = time.monotonic() + 60
    while True:
        got = json.loads(
            grpcurl(
                suite.api_addr,
                "helicase.v1.WorkflowService/GetWorkflow",
                data={"id": workflow_id},
                token=suite.token,
            )
        )["workflow"]
        if got["state"] in ("WORKFLOW_STATE_COMPLETED", "WORKFLOW_STATE_FAILED"):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    tasks = {t["id"]: t for t in got["tasks"]}
    assert tasks["a"]["state"] == "TASK_STATE_COMPLETED"
    assert tasks["b"]["state"] == "TASK_STATE_FATAL_FAILED"
    for task in tasks.values():
        assert task["attempt"] == 1
        assert task["participant"] in suite.participant_names
    assert got["state"] == "WORKFLOW_STATE_FAILED"

    bad = subprocess.run(
        [str(GRPCURL), "-plaintext", "-H", f"authorization: Bearer {suite.token}",
         "-d", json.dumps({"workflow": {"tasks": []}}),
         suite.api_addr, "helicase.v1.WorkflowService/CreateWorkflow"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "workflow.tasks" in bad.stderr

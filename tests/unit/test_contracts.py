"""The protobuf contracts: lint-clean, generated code fresh, and the design's JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor

from helicase.internal.v1 import event_pb2
from helicase.v1 import (
    experiment_pb2,
    resource_pb2,
    schedule_pb2,
    template_pb2,
    workflow_pb2,
    workflow_service_pb2,
)

ROOT = Path(__file__).resolve().parents[2]

DESIGN_EXAMPLE: dict[str, Any] = {
    "requestId": "b0c1",
    "workflow": {
        "displayName": "hello",
        "labels": {"team": "chem"},
        "failurePolicy": "FAILURE_POLICY_FAIL_FAST",
        "tasks": [
            {"id": "a", "type": "noop"},
            {
                "id": "b",
                "type": "shell",
                "instanceGroup": "default",
                "dependsOn": ["a"],
                "params": {"command": "exit 3", "fatal_exit_codes": [3]},
                "retry": {"maxAttempts": 3, "initialBackoff": "0.2s"},
                "timeout": "30s",
            },
        ],
    },
}


def test_buf_lint_is_clean() -> None:
    buf = ROOT / "node_modules" / ".bin" / "buf"
    assert buf.exists(), "buf is missing: run `make install` (npm package @bufbuild/buf)"
    result = subprocess.run([str(buf), "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_api_linter_is_clean_on_the_public_contracts() -> None:
    linter = ROOT / ".helicase" / "bin" / "api-linter"
    assert linter.exists(), "api-linter is missing: run `make install`"
    public = sorted(f"helicase/v1/{p.name}" for p in (ROOT / "protos/helicase/v1").glob("*.proto"))
    result = subprocess.run(
        [str(linter), "--config", "api-linter.yaml", "--set-exit-status", *public],
        cwd=ROOT / "protos",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def behaviors(message: Descriptor, field: str) -> set[str]:
    options = message.fields_by_name[field].GetOptions()
    found = options.Extensions[field_behavior_pb2.field_behavior]
    return {field_behavior_pb2.FieldBehavior.Name(b) for b in found}


def test_server_assigned_fields_are_marked_output_only() -> None:
    resources = [
        workflow_pb2.Workflow.DESCRIPTOR,
        schedule_pb2.Schedule.DESCRIPTOR,
        template_pb2.WorkflowTemplate.DESCRIPTOR,
        resource_pb2.ComputeResource.DESCRIPTOR,
        resource_pb2.StorageResource.DESCRIPTOR,
        resource_pb2.Credential.DESCRIPTOR,
        experiment_pb2.Experiment.DESCRIPTOR,
    ]
    for message in resources:
        for field in ("id", "create_time", "state", "update_time", "workflow_id"):
            if field in message.fields_by_name:
                assert "OUTPUT_ONLY" in behaviors(message, field), f"{message.name}.{field}"
    task = workflow_pb2.Task.DESCRIPTOR
    for field in ("state", "attempt", "participant", "start_time", "end_time", "outputs"):
        assert behaviors(task, field) == {"OUTPUT_ONLY"}, f"Task.{field}"
    assert behaviors(task, "id") == {"REQUIRED", "IMMUTABLE"}
    assert behaviors(resource_pb2.Credential.DESCRIPTOR, "private_key") == {
        "REQUIRED",
        "INPUT_ONLY",
    }
    request = workflow_service_pb2.CreateWorkflowRequest.DESCRIPTOR
    assert behaviors(request, "workflow") == {"REQUIRED"}
    assert behaviors(request, "request_id") == {"OPTIONAL"}


def test_committed_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_design_json_example_parses_and_round_trips_with_the_same_names() -> None:
    request = json_format.ParseDict(DESIGN_EXAMPLE, workflow_service_pb2.CreateWorkflowRequest())
    task = request.workflow.tasks[1]
    assert task.retry.initial_backoff.ToMilliseconds() == 200
    assert task.params["fatal_exit_codes"] == [3]
    assert request.workflow.failure_policy == workflow_pb2.FAILURE_POLICY_FAIL_FAST
    back = json.loads(json.dumps(json_format.MessageToDict(request)))
    assert json_format.ParseDict(back, workflow_service_pb2.CreateWorkflowRequest()) == request
    assert back["workflow"]["tasks"][1].keys() == DESIGN_EXAMPLE["workflow"]["tasks"][1].keys()
    assert back["workflow"].keys() == DESIGN_EXAMPLE["workflow"].keys()


def test_state_enums_carry_the_design_names() -> None:
    workflow_states = {"PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELING", "CANCELED"}
    task_states = {
        "PENDING", "READY", "ASSIGNED", "RUNNING", "COMPLETED", "FAILED", "FATAL_FAILED",
        "TIMED_OUT", "CANCELED", "SKIPPED",
    }  # fmt: skip
    assert {f"WORKFLOW_STATE_{s}" for s in workflow_states} <= set(
        workflow_pb2.WorkflowState.keys()
    )
    assert {f"TASK_STATE_{s}" for s in task_states} <= set(workflow_pb2.TaskState.keys())
    task_fields = set(workflow_pb2.Task.DESCRIPTOR.fields_by_name)
    assert {"state", "attempt", "participant", "message", "start_time", "end_time", "outputs"} <= (
        task_fields
    )
    assert {"create_time", "start_time", "end_time"} <= set(
        workflow_pb2.Workflow.DESCRIPTOR.fields_by_name
    )
    assert "workflow" in workflow_service_pb2.CreateWorkflowResponse.DESCRIPTOR.fields_by_name
    assert {"task_event", "workflow_event"} <= set(event_pb2.Event.DESCRIPTOR.fields_by_name)

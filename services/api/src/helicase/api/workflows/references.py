"""What a workflow's task params name of the caller's other stored things (pure): the SSH
credentials an Airavata task logs in with. The store checks each belongs to the workflow's
tenant before it stores the workflow, so a task can use only its own tenant's credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format

from helicase.v1 import workflow_pb2

CREDENTIAL_KEY = "credential_id"


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def credential_refs(workflow: workflow_pb2.Workflow) -> list[tuple[str, str]]:
    """(field path, credential id) of every `credential_id` string anywhere in a task's params,
    e.g. ("workflow.tasks[0].params.compute.credential_id", "0b1c...")."""
    out = []
    for index, task in enumerate(workflow.tasks):
        if not task.HasField("params"):
            continue
        params = json_format.MessageToDict(task.params)
        for path, value in _walk(params, f"workflow.tasks[{index}].params"):
            if path.endswith(f".{CREDENTIAL_KEY}") and isinstance(value, str):
                out.append((path, value))
    return out

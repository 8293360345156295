"""The chaos driver's records and verdicts: what was submitted, what each kind may end as."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from helicase.v1 import workflow_pb2

TS = workflow_pb2.TaskState
WS = workflow_pb2.WorkflowState


def ws_name(state: int) -> str:
    return WS.Name(cast("workflow_pb2.WorkflowState.ValueType", state)).removeprefix(
        "WORKFLOW_STATE_"
    )


def first_line(err: grpc.aio.AioRpcError) -> str:
    return (err.details() or "").splitlines()[0][:120] if err.details() else ""


def ts_name(state: int) -> str:
    return TS.Name(cast("workflow_pb2.TaskState.ValueType", state)).removeprefix("TASK_STATE_")


VICTIMS = ("api", "scheduler", "leader", "participant", "sink")
"""Kinds of victim: `leader` is whichever controller leads at the time."""

INFRA = ("kafka", "zookeeper", "postgres")

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

# What each kind of workflow may end as.
EXPECTED: dict[str, frozenset[int]] = {
    "normal": frozenset({WS.WORKFLOW_STATE_COMPLETED}),
    "flaky": frozenset({WS.WORKFLOW_STATE_COMPLETED}),
    "fatal": frozenset({WS.WORKFLOW_STATE_FAILED}),
    "cancel": frozenset(
        {WS.WORKFLOW_STATE_CANCELED, WS.WORKFLOW_STATE_COMPLETED, WS.WORKFLOW_STATE_FAILED}
    ),
}


@dataclass
class Submitted:
    index: int
    kind: str
    request_id: str
    task_ids: list[str]
    workflow_id: str = ""
    create_attempts: int = 0
    canceled: bool = False
    final_state: int = 0
    error: str = ""


@dataclass
class ChaosReport:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def render(self) -> str:
        lines = ["== chaos figures =="]
        for key, value in self.figures.items():
            if key == "violation_timelines":  # one line per happening, to read top down
                lines.append(f"{key}:")
                for task, happenings in value.items():
                    lines.append(f"  {task}")
                    lines += [f"    {line}" for line in happenings]
                continue
            lines.append(f"{key}: {json.dumps(value, sort_keys=True, default=str)}")
        lines.append("== checks ==")
        if self.failures:
            lines += [f"FAIL: {failure}" for failure in self.failures]
        else:
            lines.append("all checks passed")
        return "\n".join(lines)

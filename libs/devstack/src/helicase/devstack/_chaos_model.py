"""The chaos driver's records and verdicts: what was submitted, what each kind may end as."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from helicase.common.states import TS, WS
from helicase.v1 import workflow_pb2


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
    "single": frozenset({WS.WORKFLOW_STATE_COMPLETED}),
    "probe": frozenset({WS.WORKFLOW_STATE_COMPLETED}),
    "scheduled": frozenset({WS.WORKFLOW_STATE_COMPLETED}),
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
    tenant: str = ""
    """The tenant whose key created it ("": the suite's `demo` tenant)."""
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


@dataclass
class ChaosOptions:
    workflows: int = 1000
    duration: float = 600.0
    """Seconds of chaos: workflows are submitted over the first 60%, kills happen throughout."""
    seed: int = 1
    kill_interval: float = 3.0
    kill_pause: float = 1.0
    """Seconds between a kill -9 and the restart."""
    kill_plan: Sequence[str] | None = None
    """A fixed sequence of victims (kinds of VICTIMS) instead of random picks; the loop stops
    killing when it is used up."""
    infra_restarts: bool = True
    """Restart Kafka, ZooKeeper and PostgreSQL once each during the run."""
    participants: int = 3
    schedulers: int = 2
    min_sleep: float = 0.1
    max_sleep: float = 2.0
    wait_timeout: float = 300.0
    """Seconds to wait for every workflow to be terminal once the chaos stopped."""
    keep_home: bool = False
    leader_storm: int = 0
    """Rounds of back-to-back leader kills, spread over the run: the leader is killed, then its
    successor as soon as it holds the election lock (still loading its state, perhaps) plus the
    round's spacing, cycling through `storm_spacings`."""
    storm_spacings: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0, 6.0)
    hog: bool = False
    """Load beside the suite (helicase.devstack.LoadHog): a CPU burner per core and an fsync
    writer on the disk of the run's home."""
    log: Callable[[str], None] = print

"""Building a workflow's run state from its definition, and per-task retry arithmetic."""

from __future__ import annotations

import hashlib

from helicase.controller._model import (
    DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MULTIPLIER,
    TaskRun,
    TaskSpec,
    WorkflowRun,
)
from helicase.v1 import workflow_pb2


def _seconds(duration: object, default: float) -> float:
    value: float = duration.ToTimedelta().total_seconds()  # type: ignore[attr-defined]
    return value if value > 0 else default


def build(workflow: workflow_pb2.Workflow) -> WorkflowRun:
    """The run state of a freshly submitted workflow (every task PENDING)."""
    index = {task.id: i for i, task in enumerate(workflow.tasks)}
    specs: list[TaskSpec] = []
    for task in workflow.tasks:
        retry = task.retry
        specs.append(
            TaskSpec(
                id=task.id,
                type=task.type,
                group=task.instance_group or "default",
                deps=sorted({index[d] for d in task.depends_on if d in index}),
                dependents=[],
                max_attempts=retry.max_attempts or DEFAULT_MAX_ATTEMPTS,
                initial_backoff=_seconds(retry.initial_backoff, DEFAULT_INITIAL_BACKOFF),
                multiplier=retry.multiplier or DEFAULT_MULTIPLIER,
                max_backoff=_seconds(retry.max_backoff, DEFAULT_MAX_BACKOFF),
                timeout=task.timeout.ToTimedelta().total_seconds()
                if task.HasField("timeout") and task.timeout.ToNanoseconds() > 0
                else None,
            )
        )
    for i, spec in enumerate(specs):
        for dep in spec.deps:
            specs[dep].dependents.append(i)
    runs = [TaskRun(waiting=len(spec.deps)) for spec in specs]
    return WorkflowRun(
        definition=workflow, specs=specs, index=index, runs=runs, unfinished=len(specs)
    )


def backoff(spec: TaskSpec, failed_attempt: int, jitter_seed: str) -> float:
    """Delay before the attempt after `failed_attempt`: initial * multiplier^(n-1), capped, with
    a deterministic ±20% jitter derived from `jitter_seed` (reproducible in tests)."""
    base = min(spec.max_backoff, spec.initial_backoff * spec.multiplier ** (failed_attempt - 1))
    digest = hashlib.sha256(jitter_seed.encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32  # [0, 1)
    return max(0.0, min(spec.max_backoff, base * (0.8 + 0.4 * fraction)))

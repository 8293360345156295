"""Rows of the read model to Workflow messages, ids and timestamps (shared by the resources)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf import timestamp_pb2

from helicase.common.errors import NotFound
from helicase.common.events import TASK_TERMINAL
from helicase.v1 import workflow_pb2


def ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def definition_of(workflow: workflow_pb2.Workflow) -> workflow_pb2.Workflow:
    """The definition fields of a workflow (what a user submits), without output fields."""
    out = workflow_pb2.Workflow(
        id=workflow.id,
        display_name=workflow.display_name,
        labels=workflow.labels,
        failure_policy=workflow.failure_policy or workflow_pb2.FAILURE_POLICY_FAIL_FAST,
    )
    for task in workflow.tasks:
        copy = out.tasks.add(
            id=task.id,
            type=task.type,
            instance_group=task.instance_group or "default",
            depends_on=task.depends_on,
        )
        if task.HasField("params"):
            copy.params.CopyFrom(task.params)
        if task.HasField("retry"):
            copy.retry.CopyFrom(task.retry)
        if task.HasField("timeout"):
            copy.timeout.CopyFrom(task.timeout)
    return out


def apply_projection(workflow: workflow_pb2.Workflow, row: Mapping[Any, Any]) -> None:
    """Sets the projected fields of a workflow's row (state, message, times, task count)."""
    workflow.state = row["state"]
    workflow.message = row["message"]
    workflow.task_count = row["task_count"]
    for name in ("create_time", "start_time", "end_time"):
        value = ts(row[name])
        if value is None:
            workflow.ClearField(name)
        else:
            getattr(workflow, name).CopyFrom(value)


def workflow_message(
    row: Mapping[Any, Any],
    *,
    tasks: Sequence[Mapping[Any, Any]] | None,
    attempts: Iterable[Mapping[Any, Any]] = (),
    counts: Mapping[int, int] | None = None,
) -> workflow_pb2.Workflow:
    """Builds the Workflow message: the stored definition plus the projected state."""
    workflow = workflow_pb2.Workflow.FromString(row["definition"])
    workflow.id = str(row["id"])
    workflow.tenant = row["tenant"]
    apply_projection(workflow, row)
    if counts is not None:
        set_counts(workflow, counts)
    if tasks is None:
        del workflow.tasks[:]
        return workflow
    by_task = attempts_by_task(attempts)
    rows = {t["task_id"]: t for t in tasks}
    for task in workflow.tasks:
        current = rows.get(task.id)
        if current is not None:
            fill_task(task, current, by_task.get(task.id, []))
    if counts is None:
        tally: dict[str, int] = {}
        for task in workflow.tasks:
            name = workflow_pb2.TaskState.Name(task.state)
            tally[name] = tally.get(name, 0) + 1
        workflow.task_counts.update(tally)
    return workflow


def set_counts(workflow: workflow_pb2.Workflow, counts: Mapping[int, int]) -> None:
    workflow.task_counts.clear()
    for state, count in counts.items():
        workflow.task_counts[workflow_pb2.TaskState.Name(state)] = count  # type: ignore[arg-type]


def attempts_by_task(
    attempts: Iterable[Mapping[Any, Any]],
) -> dict[str, list[Mapping[Any, Any]]]:
    by_task: dict[str, list[Mapping[Any, Any]]] = {}
    for attempt in attempts:
        by_task.setdefault(attempt["task_id"], []).append(attempt)
    return by_task


def fill_task(
    task: workflow_pb2.Task, current: Mapping[Any, Any], attempts: Iterable[Mapping[Any, Any]]
) -> None:
    """Sets the projected fields of a task (a definition's copy) from its row and attempts."""
    task.state = current["state"]
    task.attempt = current["attempt"]
    task.participant = current["participant"]
    task.message = current["message"]
    if current["outputs"] is not None:
        task.outputs.update(current["outputs"])
    for attempt in sorted(attempts, key=lambda a: a["attempt"]):
        item = task.attempts.add(
            attempt=attempt["attempt"],
            state=attempt["state"],
            participant=attempt["participant"],
            message=attempt["message"],
        )
        for name in ("start_time", "end_time"):
            value = ts(attempt[name])
            if value is not None:
                getattr(item, name).CopyFrom(value)
        if attempt["attempt"] == task.attempt:
            if (start := ts(attempt["start_time"])) is not None:
                task.start_time.CopyFrom(start)
            end = ts(attempt["end_time"])
            if end is not None and task.state in TASK_TERMINAL:
                task.end_time.CopyFrom(end)


def parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def id_of(raw: str, what: str) -> uuid.UUID:
    """The id of the `what` (workflow, schedule...) a request names; NotFound when `raw` cannot
    be one."""
    parsed = parse_id(raw)
    if parsed is None:
        raise NotFound(f"{what} {raw!r} not found")
    return parsed

"""How workflows, task types and errors look on a terminal (Rich) and as JSON. Pure: builds
renderables and dicts, prints nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from helicase.common.events import TASK_TERMINAL
from helicase.v1 import participant_registry_pb2, task_type_pb2, workflow_pb2

STATE_STYLE = {
    "PENDING": "dim",
    "READY": "cyan",
    "ASSIGNED": "cyan",
    "RUNNING": "yellow",
    "CANCELING": "magenta",
    "COMPLETED": "green",
    "FAILED": "red",
    "FATAL_FAILED": "bold red",
    "TIMED_OUT": "red",
    "CANCELED": "magenta",
    "SKIPPED": "dim",
}


def to_json(message: Message) -> dict[str, Any]:
    """The proto3 JSON form (camelCase names, enum names), as grpcurl prints it."""
    return json_format.MessageToDict(message)


def workflow_state(state: int) -> str:
    return workflow_pb2.WorkflowState.Name(
        workflow_pb2.WorkflowState.ValueType(state)
    ).removeprefix("WORKFLOW_STATE_")


def task_state(state: int) -> str:
    return workflow_pb2.TaskState.Name(workflow_pb2.TaskState.ValueType(state)).removeprefix(
        "TASK_STATE_"
    )


def styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _time(ts: Any) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return datetime.fromtimestamp(ts.seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: Any, end: Any) -> str:
    if not start.seconds:
        return ""
    stop = end.ToDatetime(UTC) if end.seconds else datetime.now(UTC)
    seconds = max((stop - start.ToDatetime(UTC)).total_seconds(), 0.0)
    return f"{seconds:.1f}s"


def tasks_done(workflow: workflow_pb2.Workflow) -> int:
    return sum(1 for t in workflow.tasks if t.state in TASK_TERMINAL)


def workflow_header(workflow: workflow_pb2.Workflow) -> Text:
    state = workflow_state(workflow.state)
    head = Text.assemble(
        ("workflow ", "bold"),
        (workflow.id, "bold"),
        f" {workflow.display_name}  " if workflow.display_name else "  ",
        styled(state),
    )
    if workflow.message:
        head.append(f"  {workflow.message}")
    return head


# Which tasks a screen too small for all of them shows first: what runs, then what failed.
_ROW_PRIORITY = {
    "RUNNING": 0, "ASSIGNED": 0, "READY": 1, "FAILED": 2, "FATAL_FAILED": 2, "TIMED_OUT": 2,
    "CANCELED": 3, "PENDING": 4, "COMPLETED": 5, "SKIPPED": 5,
}  # fmt: skip


def visible_tasks(tasks: list[workflow_pb2.Task], limit: int | None) -> list[workflow_pb2.Task]:
    """At most `limit` tasks, the most interesting first chosen, in definition order."""
    if limit is None or len(tasks) <= limit:
        return list(tasks)
    ranked = sorted(
        range(len(tasks)), key=lambda i: (_ROW_PRIORITY.get(task_state(tasks[i].state), 6), i)
    )
    return [tasks[i] for i in sorted(ranked[: max(limit, 0)])]


def task_table(workflow: workflow_pb2.Workflow, limit: int | None = None) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("task", "type", "state", "attempt", "participant", "time", "message"):
        table.add_column(column, overflow="fold")
    shown = visible_tasks(list(workflow.tasks), limit)
    for task in shown:
        table.add_row(
            task.id,
            task.type,
            styled(task_state(task.state)),
            str(task.attempt) if task.attempt else "",
            task.participant,
            _duration(task.start_time, task.end_time),
            task.message,
        )
    hidden = len(workflow.tasks) - len(shown)
    if hidden:
        table.add_row(Text(f"… {hidden} more", style="dim"), "", "", "", "", "", "")
    return table


def progress_line(workflow: workflow_pb2.Workflow) -> RenderableType:
    total = len(workflow.tasks)
    done = tasks_done(workflow)
    counts = Counter(task_state(t.state) for t in workflow.tasks)
    summary = Text(f" {done}/{total} tasks finished  ")
    for state, count in sorted(counts.items()):
        summary.append_text(styled(f"{state} {count}"))
        summary.append(" ")
    table = Table.grid(padding=(0, 1))
    table.add_row(ProgressBar(total=max(total, 1), completed=done, width=30), summary)
    return table


def workflow_view(workflow: workflow_pb2.Workflow, limit: int | None = None) -> RenderableType:
    """What `get` and `watch` show: a header, a progress line and a row per task (at most
    `limit` rows of tasks: a live view must fit its screen)."""
    return Group(workflow_header(workflow), progress_line(workflow), task_table(workflow, limit))


def workflow_list(workflows: list[workflow_pb2.Workflow], next_page_token: str) -> RenderableType:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("id", "name", "state", "tasks", "created", "labels"):
        table.add_column(column, overflow="fold")
    for w in workflows:
        total = sum(w.task_counts.values()) if w.task_counts else len(w.tasks)
        table.add_row(
            w.id,
            w.display_name,
            styled(workflow_state(w.state)),
            str(total),
            _time(w.create_time),
            ",".join(f"{k}={v}" for k, v in sorted(w.labels.items())),
        )
    if not next_page_token:
        return table
    return Group(table, Text(f"more: --page-token {next_page_token}", style="dim"))


def task_type_table(task_types: list[task_type_pb2.TaskType]) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("type", "groups", "participants", "params", "description"):
        table.add_column(column, overflow="fold")
    for t in task_types:
        schema = json_format.MessageToDict(t.params_schema)
        required = set(schema.get("required", []))
        params = ", ".join(
            f"{name}{'' if name in required else '?'}" for name in schema.get("properties", {})
        )
        table.add_row(
            t.name, ",".join(t.instance_groups), str(t.participant_count), params, t.description
        )
    return table


def _age(ts: Any, now: datetime) -> str:
    if not ts.seconds:
        return ""
    seconds = int(max((now - ts.ToDatetime(UTC)).total_seconds(), 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def participant_table(
    participants: list[participant_registry_pb2.Participant], now: datetime | None = None
) -> Table:
    now = now or datetime.now(UTC)
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("group", "name", "task types", "load", "connected", "since"):
        table.add_column(column, overflow="fold")
    for p in participants:
        busy = "yellow" if p.load >= p.capacity else ""
        table.add_row(
            p.instance_group,
            p.name,
            ",".join(p.task_types),
            Text(f"{p.load}/{p.capacity}", style=busy),
            _age(p.connected_since, now),
            _time(p.connected_since),
        )
    return table


def rpc_error_lines(err: grpc.aio.AioRpcError) -> list[str]:
    """`CODE: details`, then one line per BadRequest field violation carried by the status."""
    lines = [f"{err.code().name}: {err.details()}"]
    status = rpc_status.from_call(err) if err.trailing_metadata() is not None else None
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    return lines

"""The archive export: each purged workflow as one JSON line (header, tasks, attempts, events,
experiment) appended to <root>/<tenant>/<end day>.jsonl and fsynced before its rows are deleted.

A line may be written twice (a purge that fails after the export is retried), never lost: a
reader keeps one line per workflow id.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from helicase.internal.v1 import event_pb2
from helicase.v1 import workflow_pb2


@dataclass(frozen=True)
class ArchivedWorkflow:
    """One workflow as the archive keeps it: its tenant and end time pick the file."""

    tenant: str
    end_time: datetime
    document: dict[str, Any]


def path_of(root: Path, tenant: str, end_time: datetime) -> Path:
    """<root>/<tenant>/<YYYY-MM-DD>.jsonl, the day the workflow ended (UTC)."""
    return root / tenant / f"{end_time.astimezone(UTC):%Y-%m-%d}.jsonl"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as JSON values (times in RFC 3339, UUIDs as text)."""
    return {key: _plain(value) for key, value in row.items()}


def workflow_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow header: its row, with the state's name and the definition as proto3 JSON."""
    out = row_json({k: v for k, v in row.items() if k != "definition"})
    out["state"] = workflow_pb2.WorkflowState.Name(row["state"])
    definition = workflow_pb2.Workflow.FromString(row["definition"])
    out["definition"] = json_format.MessageToDict(definition)
    return out


def event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded event: its row, with the payload (helicase.internal.v1.Event) as JSON."""
    out = row_json({k: v for k, v in row.items() if k != "payload"})
    out["payload"] = json_format.MessageToDict(event_pb2.Event.FromString(row["payload"]))
    return out


def append_fsynced(root: Path, workflows: Sequence[ArchivedWorkflow]) -> list[Path]:
    """Appends each workflow's line to its file and fsyncs every file written (and each new
    directory) before returning: an OSError means nothing may be purged."""
    by_path: dict[Path, list[str]] = defaultdict(list)
    for workflow in workflows:
        line = json.dumps(workflow.document, separators=(",", ":"), allow_nan=False)
        by_path[path_of(root, workflow.tenant, workflow.end_time)].append(line + "\n")
    for path, lines in by_path.items():
        new_dir, new_file = not path.parent.exists(), not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(lines))
            out.flush()
            os.fsync(out.fileno())
        if new_file:  # the new name must survive a crash too
            _fsync_dir(path.parent)
        if new_dir:
            _fsync_dir(path.parent.parent)
    return list(by_path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

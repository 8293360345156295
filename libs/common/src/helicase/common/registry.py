"""What a participant writes into its ZooKeeper registration node, and task-type definitions."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class TaskTypeInfo:
    """A task type: name, description and the JSON schema of its params."""

    name: str
    description: str = ""
    params_schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ParticipantInfo:
    """Data of /helicase/participants/<group>/<name>."""

    name: str
    group: str
    capacity: int
    task_types: list[TaskTypeInfo]
    started_at: float = 0.0

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> ParticipantInfo:
        raw = json.loads(data)
        types = [TaskTypeInfo(**t) for t in raw.pop("task_types", [])]
        return cls(task_types=types, **raw)


def encode_task_type(info: TaskTypeInfo) -> bytes:
    return json.dumps(asdict(info), sort_keys=True).encode()


def decode_task_type(data: bytes) -> TaskTypeInfo:
    return TaskTypeInfo(**json.loads(data))

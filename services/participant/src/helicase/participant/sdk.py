"""The task-type SDK: declare a task type with a params schema and an async `run`.

    @task_type("sleep", schema={...}, description="...")
    async def sleep(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]: ...

`run` returns small outputs (a JSON object), or `Reschedule(delay)` to run the same attempt again
later; raising NonRetryableError ends the task FATAL_FAILED, any other exception FAILED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from helicase.common.errors import NonRetryableError
from helicase.common.registry import TaskTypeInfo
from helicase.v1 import participant_pb2

__all__ = ["NonRetryableError", "Reschedule", "TaskContext", "TaskType", "task_type"]


@dataclass(frozen=True)
class Reschedule:
    """Run the same attempt again after `delay` (its slot is freed meanwhile)."""

    delay: timedelta


@dataclass
class TaskContext:
    """What a running task knows about itself.

    A cancel (or timeout) cancels the `run` coroutine; `cancel_requested` is also set so that
    work handed to a thread (which asyncio cannot interrupt) can poll it and stop.
    """

    ref: participant_pb2.TaskRef
    participant: str
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False)
    grace: timedelta = timedelta(seconds=2)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def workflow_id(self) -> str:
        return self.ref.workflow_id

    @property
    def task_id(self) -> str:
        return self.ref.task_id

    @property
    def attempt(self) -> int:
        return self.ref.attempt


RunFn = Callable[[TaskContext, dict[str, Any]], Awaitable["dict[str, Any] | Reschedule | None"]]


@dataclass(frozen=True)
class TaskType:
    """A task type: name, description, params schema and the coroutine that runs it."""

    name: str
    description: str
    schema: dict[str, Any]
    run: RunFn

    def info(self) -> TaskTypeInfo:
        return TaskTypeInfo(name=self.name, description=self.description, params_schema=self.schema)


REGISTRY: dict[str, TaskType] = {}


def task_type(
    name: str, *, schema: dict[str, Any], description: str = ""
) -> Callable[[RunFn], RunFn]:
    """Registers `run` as task type `name`."""

    def register(run: RunFn) -> RunFn:
        REGISTRY[name] = TaskType(name=name, description=description, schema=schema, run=run)
        return run

    return register

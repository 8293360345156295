"""The task-type SDK: declare a task type with a typed params model and an async `run`.

    class SleepParams(Params):
        seconds: float = Field(ge=0, description="How long to wait.")

    @task_type("sleep", description="...")
    async def sleep(ctx: TaskContext, params: SleepParams) -> dict[str, Any]: ...

The params model (a pydantic v2 model) is the type's contract: its JSON schema
(`model_json_schema()`) is advertised in ZooKeeper (`/helicase/tasktypes/<type>`), where
CreateWorkflow checks params against it, and the participant validates each assignment's params
into the model before `run` sees them (params the model rejects end the task FATAL_FAILED: no
retry can fix them). A type may instead
declare a raw JSON schema (`schema={...}`) and receive the params as a dict.

`run` returns small outputs (a JSON object), or `Reschedule(delay)` to run the same attempt again
later; raising NonRetryableError ends the task FATAL_FAILED, any other exception FAILED. A cancel
(or timeout) cancels the `run` coroutine: catch asyncio.CancelledError to clean up (e.g. cancel a
batch job), then re-raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, overload

import pydantic

from helicase.common.errors import NonRetryableError
from helicase.common.registry import TaskTypeInfo
from helicase.internal.v1 import participant_pb2
from helicase.participant import processes
from helicase.participant.config import TASK_USER

__all__ = [
    "NonRetryableError",
    "Params",
    "Reschedule",
    "TaskContext",
    "TaskType",
    "task_type",
]


@dataclass(frozen=True)
class Reschedule:
    """Run the same attempt again after `delay` (its slot is freed meanwhile)."""

    delay: timedelta


class Params(pydantic.BaseModel):
    """Base of params models: unknown fields are refused (`additionalProperties: false`)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


RUNNING_TASK: contextvars.ContextVar[participant_pb2.TaskRef | None] = contextvars.ContextVar(
    "helicase_running_task", default=None
)
"""The placement whose code runs in this asyncio task (set by the participant for each run): the
credential resolution names it, so the api can check that this participant holds it."""


@dataclass
class TaskContext:
    """What a running task knows about itself, and what it can report.

    A cancel (or timeout) cancels the `run` coroutine; `cancel_requested` is also set so that
    work handed to a thread (which asyncio cannot interrupt) can poll it and stop.
    `set_output` records outputs as they become known (merged under what `run` returns), so a
    failure after them still leaves them in the log; `progress` records how far the task is.
    `process` starts a local process the way every task process starts (see
    helicase.participant.processes); `task_user` is the account it runs as (None: the
    participant's own, which is not root).
    """

    ref: participant_pb2.TaskRef
    participant: str
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False)
    grace: timedelta = timedelta(seconds=2)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    outputs: dict[str, Any] = field(default_factory=dict)
    last_progress: tuple[float, str] | None = None
    task_user: processes.TaskUser | None = field(default_factory=lambda: default_task_user())

    @property
    def workflow_id(self) -> str:
        return self.ref.workflow_id

    @property
    def task_id(self) -> str:
        return self.ref.task_id

    @property
    def attempt(self) -> int:
        return self.ref.attempt

    @property
    def cancelled(self) -> bool:
        """Whether a cancel or timeout was requested (for code running in threads)."""
        return self.cancel_requested.is_set()

    def set_output(self, key: str, value: Any) -> None:
        """Records output `key` now (JSON value); `run`'s returned outputs take precedence."""
        self.outputs[key] = value

    def process(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **streams: Any
    ) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
        """Starts `argv` as a task process (`async with ctx.process([...]) as proc:`), with the
        allow-listed environment plus `env` (what the task type declares) and this run's ids
        (HELICASE_WORKFLOW_ID, HELICASE_TASK_ID, HELICASE_ATTEMPT); `streams` are stdin, stdout,
        stderr (default: no input, both outputs piped)."""
        declared = {
            **(env or {}),
            "HELICASE_WORKFLOW_ID": self.workflow_id,
            "HELICASE_TASK_ID": self.task_id,
            "HELICASE_ATTEMPT": str(self.attempt),
        }
        return processes.task_process(argv, env=declared, user=self.task_user, **streams)

    def progress(self, fraction: float, message: str = "") -> None:
        """Records progress (0..1) and logs it; the participant's log carries it."""
        fraction = min(max(fraction, 0.0), 1.0)
        self.last_progress = (fraction, message)
        self.log.info("progress", extra={"progress": round(fraction, 3), "detail": message})


def default_task_user() -> processes.TaskUser | None:
    """The task user HELICASE_PARTICIPANT_TASK_USER names, when the participant is root."""
    return processes.task_user(TASK_USER.read())


RunFn = Callable[[TaskContext, dict[str, Any]], Awaitable["dict[str, Any] | Reschedule | None"]]
P = TypeVar("P", bound=pydantic.BaseModel)
TypedRunFn = Callable[[TaskContext, P], Awaitable["dict[str, Any] | Reschedule | None"]]


@dataclass(frozen=True)
class TaskType:
    """A task type: name, description, params schema and the coroutine that runs it (on raw
    params; a typed type's `run` validates them into its model first)."""

    name: str
    description: str
    schema: dict[str, Any]
    run: RunFn
    params_model: type[pydantic.BaseModel] | None = None

    def info(self) -> TaskTypeInfo:
        return TaskTypeInfo(name=self.name, description=self.description, params_schema=self.schema)


TASK_TYPES: dict[str, TaskType] = {}
"""Every task type defined in this process, by name (filled by `@task_type`)."""


REFERENCE_PATTERN = r"\$\{tasks\.[a-z0-9][a-z0-9_-]*\.outputs\.[A-Za-z0-9_.-]+\}"
"""A `${tasks.<id>.outputs.<key>}` reference, which the controller resolves at placement."""


def _accept_references(node: Any) -> Any:
    """Lets every patterned string also hold an output reference: at CreateWorkflow the value is
    still `${tasks...}`; the participant checks the resolved value against the model."""
    if isinstance(node, list):
        return [_accept_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: value if key == "propertyNames" else _accept_references(value)
        for key, value in node.items()
    }
    if out.get("type") == "string" and "pattern" in out:
        notes = {k: out.pop(k) for k in ("title", "description", "default") if k in out}
        return {**notes, "anyOf": [out, {"type": "string", "pattern": REFERENCE_PATTERN}]}
    return out


def params_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The JSON schema advertised for `model`: pydantic's (validation mode), with patterned
    strings also accepting output references."""
    schema: dict[str, Any] = _accept_references(model.model_json_schema(mode="validation"))
    return schema


def _typed_run(model: type[P], run: TypedRunFn[P]) -> RunFn:
    @functools.wraps(run)
    async def raw(ctx: TaskContext, params: dict[str, Any]) -> Any:
        try:
            parsed = model.model_validate(params)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise NonRetryableError(f"invalid params at {where}: {first['msg']}") from None
        result = await run(ctx, parsed)
        if ctx.outputs and (result is None or isinstance(result, dict)):
            return {**ctx.outputs, **(result or {})}
        return result

    return raw


@overload
def task_type(
    name: str, *, schema: dict[str, Any], description: str = ""
) -> Callable[[RunFn], RunFn]: ...


@overload
def task_type(
    name: str, *, params: type[P], description: str = ""
) -> Callable[[TypedRunFn[P]], TypedRunFn[P]]: ...


def task_type(
    name: str,
    *,
    schema: dict[str, Any] | None = None,
    params: type[P] | None = None,
    description: str = "",
) -> Callable[[Any], Any]:
    """Registers the decorated coroutine as task type `name`, with either a params model
    (`params=`, the coroutine receives the validated model) or a raw JSON schema (`schema=`, it
    receives a dict). The description defaults to the coroutine's docstring."""
    if (schema is None) == (params is None):
        raise TypeError("task_type needs exactly one of schema= or params=")

    def register(run: Any) -> Any:
        text = description or (run.__doc__ or "").strip()
        if params is not None:
            TASK_TYPES[name] = TaskType(
                name=name,
                description=text,
                schema=params_schema(params),
                run=_typed_run(params, run),
                params_model=params,
            )
        else:
            assert schema is not None
            TASK_TYPES[name] = TaskType(name=name, description=text, schema=schema, run=run)
        return run

    return register

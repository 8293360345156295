"""The outputs of the airavata.* task types, defined once for the participant that writes them
and the api that reads them (experiments).

Each task type's outputs are a frozen dataclass: its fields are the output names and their
types. The participant returns `Outputs(...).to_dict()`; the api renders references to them with
`ref` (`${tasks.<id>.outputs.<name>}`) and reads a task's outputs with `parse`, which raises
`TaskOutputError` naming the task and the output when one is missing or of the wrong type: a
renamed output is an error, never a silent default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

Out = TypeVar("Out", bound="TaskOutputs")


class TaskOutputError(ValueError):
    """A task's outputs lack a declared output, or hold one of the wrong type."""


class TaskOutputs:
    """Base of the typed outputs of one task type (subclasses are frozen dataclasses)."""

    TASK_TYPE: ClassVar[str]

    @classmethod
    def key(cls, name: str) -> str:
        """`name`, checked to be one of this task type's outputs."""
        if name not in {f.name for f in dataclasses.fields(cls)}:  # type: ignore[arg-type]
            raise KeyError(f"{cls.TASK_TYPE} has no output {name!r}")
        return name

    @classmethod
    def ref(cls, task_id: str, name: str) -> str:
        """The reference a later task's params use to read output `name` of task `task_id`."""
        return f"${{tasks.{task_id}.outputs.{cls.key(name)}}}"

    def to_dict(self) -> dict[str, Any]:
        """The outputs as the participant reports them (JSON-compatible)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def parse(cls: type[Out], outputs: Mapping[str, Any] | None, *, task_id: str) -> Out:
        """The typed outputs of task `task_id` from its outputs struct (as a dict); raises
        TaskOutputError naming the first missing or mistyped output."""
        return _parse(cls, outputs or {}, _where(cls, task_id))  # type: ignore[no-any-return]

    @classmethod
    def reported(cls, outputs: Mapping[str, Any] | None, name: str, *, task_id: str) -> Any:
        """Output `name` as far as a task that has not completed reported it (None while it has
        not); TaskOutputError when it is of the wrong type."""
        if outputs is None or cls.key(name) not in outputs:
            return None
        hint = get_type_hints(cls)[name]
        return _value(outputs[name], hint, _where(cls, task_id), name)


def _where(cls: type[TaskOutputs], task_id: str) -> str:
    return f"task {task_id!r} ({cls.TASK_TYPE})"


def _parse(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    found: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            raise TaskOutputError(f"{where} has no output {field.name!r}")
        found[field.name] = _value(values[field.name], hints[field.name], where, field.name)
    return cls(**found)


def _value(value: Any, hint: Any, where: str, name: str) -> Any:
    def wrong(expected: str) -> TaskOutputError:
        return TaskOutputError(f"{where} output {name!r} is not {expected}: {value!r}")

    if hint is bool:
        if not isinstance(value, bool):
            raise wrong("a boolean")
        return value
    if hint is int:
        # Outputs travel as a protobuf Struct, whose numbers are doubles.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong("an integer")
        if isinstance(value, float) and not value.is_integer():
            raise wrong("an integer")
        return int(value)
    if hint is str:
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if get_origin(hint) is list:
        if not isinstance(value, list):
            raise wrong("a list")
        (item,) = get_args(hint)
        return [_value(v, item, where, f"{name}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise wrong("an object")
        return _parse(hint, value, f"{where} output {name!r}")  # type: ignore[arg-type]
    raise TypeError(f"unsupported output type {hint!r}")


# -- the airavata task types -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class StagedFile:
    """A file copied into the experiment's working directory."""

    path: str
    sha256: str
    bytes: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredFile:
    """A file copied to the storage resource."""

    path: str
    uri: str
    sha256: str
    bytes: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnvSetupOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.env_setup"
    remote_dir: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageInOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.stage_in"
    remote_dir: str
    files: list[StagedFile]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubmitJobOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.submit_job"
    job_id: str
    job_name: str
    batch_system: str
    newly_submitted: bool
    remote_dir: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class MonitorJobOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.monitor_job"
    job_id: str
    state: str
    exit_code: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageOutOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.stage_out"
    files: list[StoredFile]
    locations: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchiveOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.archive"
    archive: str
    uri: str
    sha256: str
    bytes: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CancelJobOutputs(TaskOutputs):
    TASK_TYPE: ClassVar[str] = "airavata.cancel_job"
    job_name: str
    cancelled: bool


AIRAVATA_OUTPUTS: dict[str, type[TaskOutputs]] = {
    cls.TASK_TYPE: cls
    for cls in (
        EnvSetupOutputs,
        StageInOutputs,
        SubmitJobOutputs,
        MonitorJobOutputs,
        StageOutOutputs,
        ArchiveOutputs,
        CancelJobOutputs,
    )
}
"""Every airavata task type, in workflow order, with its outputs."""

"""The controller's data: per-workflow run state, stimuli in, actions out. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2

from helicase.v1 import event_pb2, workflow_pb2

TS = workflow_pb2.TaskState
WS = workflow_pb2.WorkflowState
Key = tuple[str, str, int, int]  # (workflow id, task id, attempt, placement)

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MULTIPLIER = 2.0
DEFAULT_MAX_BACKOFF = 60.0
MAX_REPLACEMENTS = 5
CANCEL_DEADLINE = 10.0
IN_FLIGHT = (TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING)


@dataclass(slots=True)
class TaskSpec:
    """What the definition says about one task (immutable after submit)."""

    id: str
    type: str
    group: str
    deps: list[int]
    dependents: list[int]
    max_attempts: int
    initial_backoff: float
    multiplier: float
    max_backoff: float
    timeout: float | None


@dataclass(slots=True)
class TaskRun:
    """A task's live state. `final` marks a FAILED that will not be retried."""

    state: int = TS.TASK_STATE_PENDING
    attempt: int = 0
    placement: int = 0
    participant: str = ""
    replacements: int = 0
    final: bool = False
    waiting: int = 0
    outputs: dict[str, Any] | None = None


@dataclass
class WorkflowRun:
    """One workflow on the controller."""

    definition: workflow_pb2.Workflow
    specs: list[TaskSpec]
    index: dict[str, int]
    runs: list[TaskRun]
    state: int = WS.WORKFLOW_STATE_RUNNING
    message: str = ""
    start_time: float = 0.0
    end_time: float = 0.0
    unfinished: int = 0
    failed: bool = False

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def terminal(self) -> bool:
        return self.state in (
            WS.WORKFLOW_STATE_COMPLETED,
            WS.WORKFLOW_STATE_FAILED,
            WS.WORKFLOW_STATE_CANCELED,
        )

    def key(self, index: int) -> Key:
        run = self.runs[index]
        return (self.id, self.specs[index].id, run.attempt, run.placement)


@dataclass
class ParticipantView:
    """A participant as the controller sees it: what it serves and what it runs."""

    name: str
    group: str
    task_types: frozenset[str]
    capacity: int
    connected: bool = True
    load: set[Key] = field(default_factory=set)

    @property
    def free(self) -> int:
        return self.capacity - len(self.load) if self.connected else 0


# -- stimuli -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Stimulus:
    stimulus_id: str
    now: float


@dataclass(frozen=True, kw_only=True)
class WorkflowSubmitted(Stimulus):
    workflow: workflow_pb2.Workflow


@dataclass(frozen=True, kw_only=True)
class TaskStarted(Stimulus):
    key: Key


@dataclass(frozen=True, kw_only=True)
class TaskResultReceived(Stimulus):
    participant: str
    key: Key
    outcome: int
    message: str = ""
    outputs: dict[str, Any] | None = None
    reschedule_after: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ParticipantJoined(Stimulus):
    name: str
    group: str
    task_types: frozenset[str]
    capacity: int
    running: frozenset[Key] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ParticipantLost(Stimulus):
    name: str


@dataclass(frozen=True, kw_only=True)
class TimerFired(Stimulus):
    kind: str
    key: tuple[Any, ...]


@dataclass(frozen=True, kw_only=True)
class CancelRequested(Stimulus):
    workflow_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class WorkflowReleased(Stimulus):
    workflow_id: str


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    participant: str
    key: Key
    type: str
    params: struct_pb2.Struct
    timeout: float | None


@dataclass(frozen=True)
class SendCancel:
    participant: str
    key: Key
    reason: str


@dataclass(frozen=True)
class Emit:
    event: event_pb2.Event


@dataclass(frozen=True)
class StartTimer:
    kind: str
    key: tuple[Any, ...]
    delay: float


@dataclass(frozen=True)
class Persist:
    workflow_id: str


@dataclass(frozen=True)
class Forget:
    workflow_id: str


@dataclass(frozen=True)
class AckResult:
    """Send only after the Persist actions of the same step are durable."""

    participant: str
    key: Key


@dataclass(frozen=True)
class StatusChanged:
    workflow_id: str


Action = Assign | SendCancel | Emit | StartTimer | Persist | Forget | AckResult | StatusChanged

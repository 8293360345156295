"""What happens to the controller: the stimuli its state machine handles.

Every stimulus carries a `stimulus_id` (recorded on each transition it causes and on each action
it produces, as in dask/distributed's scheduler) and `now`, the wall-clock time in seconds: the
machine never reads a clock itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helicase.controller._dag import Definition
from helicase.controller._workflow import Ref, WorkflowRun

__all__ = ["Ref"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stimulus:
    stimulus_id: str
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSubmitted(Stimulus):
    """A validated definition (`_dag.build`, done by the caller off the machine's loop)."""

    definition: Definition


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted(Stimulus):
    ref: Ref


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResultReceived(Stimulus):
    participant: str
    ref: Ref
    outcome: int  # helicase.internal.v1.TaskOutcome
    message: str = ""
    outputs: dict[str, Any] | None = None
    reschedule_after: float = 0.0
    finished_at: float = 0.0  # when the run ended, by the participant's clock (0: unknown)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantJoined(Stimulus):
    """A participant's stream opened (Hello); `running` lists what it still runs."""

    name: str
    group: str
    task_types: frozenset[str]
    capacity: int
    running: frozenset[Ref] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantDisconnected(Stimulus):
    """Its stream ended: no new placements; lost unless it is back within the grace period."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantLost(Stimulus):
    name: str
    reason: str = "lost"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(Stimulus):
    """A StartTimer's delay has passed; `kind` and `key` are the StartTimer's."""

    kind: str
    key: tuple[Any, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequested(Stimulus):
    workflow_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowReleased(Stimulus):
    workflow_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadershipTaken(Stimulus):
    """This controller became leader with these workflows loaded from ZooKeeper."""

    workflows: Sequence[WorkflowRun]


AnyStimulus = (
    WorkflowSubmitted
    | TaskStarted
    | TaskResultReceived
    | ParticipantJoined
    | ParticipantDisconnected
    | ParticipantLost
    | TimerFired
    | CancelRequested
    | WorkflowReleased
    | LeadershipTaken
)

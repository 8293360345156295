"""What the controller's state machine asks the I/O shell to do.

Ordering contract: AckResult actions are carried out only once every Persist of the same step
(and of earlier steps) is durable, so an acknowledged result is never lost by a failover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helicase.controller._stimuli import Ref
from helicase.v1 import controller_pb2, event_pb2

# Timer kinds (StartTimer.kind / TimerFired.kind) and their keys.
RETRY = "retry"  # (workflow id, task id, failed attempt): start the next attempt
RESCHEDULE = "reschedule"  # Ref: place the same attempt again
CANCEL_DEADLINE = "cancel-deadline"  # (workflow id,): end CANCELING even if nobody answers
PARTICIPANT_GRACE = "participant-grace"  # (name, session): lost unless it came back
TASK_DEADLINE = "task-deadline"  # Ref: no result within the task's timeout + TASK_DEADLINE_GRACE
TASK_DEADLINE_GRACE = 10.0
"""Seconds past a task's timeout before the controller gives up on the participant enforcing it
(the participant kills the task at its timeout, with its own kill grace, and reports TIMED_OUT)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Assign:
    participant: str
    ref: Ref
    type: str
    params: dict[str, Any]  # references to other tasks' outputs already resolved
    timeout: float | None  # seconds; None = no timeout
    # Seconds it waited READY before this placement (None for a re-send to a reconnect).
    waited: float | None = field(default=None, compare=False)
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCancel:
    participant: str
    ref: Ref
    reason: str
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Emit:
    """Publish to helicase.events (key = event.workflow_id)."""

    event: event_pb2.Event
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    kind: str
    key: tuple[Any, ...]
    delay: float  # seconds
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Write the workflow's state (fenced, group-committed)."""

    workflow_id: str
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Forget:
    """Delete the workflow's state."""

    workflow_id: str
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AckResult:
    """Tell the participant its result is recorded — only after this step's Persist is durable."""

    participant: str
    ref: Ref
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowStatusChanged:
    """Wake WatchWorkflow streams."""

    status: controller_pb2.WorkflowStatus
    stimulus_id: str = field(default="", compare=False)


Action = (
    Assign | SendCancel | Emit | StartTimer | Persist | Forget | AckResult | WorkflowStatusChanged
)

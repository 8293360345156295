"""What the controller's state machine asks the I/O shell to do.

Ordering contract: what leaves the controller (Assign, SendCancel, AckResult on the participants'
streams, WorkflowStatusChanged to WatchWorkflow; `HELD_UNTIL_DURABLE`) is carried out only once
every Persist of the same step (and of earlier steps) is durable, in the order the steps made
it, acknowledgements last. So an acknowledged result is never lost by a failover, no watcher
sees a status that a new leader would not have, and no participant runs a task that a new
leader would not know it runs: a task assigned by a leader that died before its commit never
started, and the workflow's next submission cannot find a result it already acknowledged as
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helicase.controller._stimuli import Ref
from helicase.internal.v1 import controller_pb2, event_pb2

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
    """Answer a participant's result — only once this step's state is durable. `taken`: the
    result is recorded as its attempt's outcome (a COMPLETED one never runs again); otherwise it
    was superseded (its attempt or placement had already been decided or moved on) and nothing
    of it was recorded."""

    participant: str
    ref: Ref
    taken: bool = True
    stimulus_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowStatusChanged:
    """Wake WatchWorkflow streams."""

    status: controller_pb2.WorkflowStatus
    stimulus_id: str = field(default="", compare=False)


Action = (
    Assign | SendCancel | Emit | StartTimer | Persist | Forget | AckResult | WorkflowStatusChanged
)


HELD_UNTIL_DURABLE = (Assign, SendCancel, AckResult, WorkflowStatusChanged)
"""Actions the I/O shell carries out only after the commit of the step that made them."""

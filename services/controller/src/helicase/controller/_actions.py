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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helicase.controller._stimuli import Ref
from helicase.controller._workflow import WorkflowRun
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
    """Tell a participant to stop a placement. `given_up`: the machine expects no result of it
    any more (the task's outcome was decided, or the attempt moved on), so a held Assign of the
    same placement is withdrawn (`to_send`). False for a workflow cancel: the placement stays
    the task's live one until its (CANCELED) result comes."""

    participant: str
    ref: Ref
    reason: str
    given_up: bool = True
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
    """Write the workflow's state (fenced, group-committed): `snapshot`, a copy of it as the step
    left it. The machine adds one per workflow a step changed, after the step's last change; a
    later Persist of the same workflow supersedes it within a group commit."""

    workflow_id: str
    snapshot: WorkflowRun = field(compare=False, repr=False)
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


def to_send(held: Sequence[Action]) -> list[Action]:
    """What a commit lets out of the held actions of its steps: all of them in the order they
    were made, acknowledgements last, except an assignment whose placement the same batch gave
    up (a COMPLETED result of an earlier placement came, the workflow failed fast, the attempt
    timed out). Sent, it would have the participant start a task whose outcome is already
    durable, and the cancel right after could not undo a run that finished at once. The cancel
    itself still goes out: a participant ignores a cancel of a task it does not run, and stops
    one it got from an earlier copy of the same assignment (re-sent to a reconnecting
    participant). An assignment followed by a workflow cancel goes out with its cancel: the
    machine waits for that placement's CANCELED result."""
    cancelled = {(a.participant, a.ref) for a in held if isinstance(a, SendCancel) and a.given_up}
    out: list[Action] = []
    acks: list[Action] = []
    for action in held:
        if isinstance(action, AckResult):
            acks.append(action)
        elif not (isinstance(action, Assign) and (action.participant, action.ref) in cancelled):
            out.append(action)
    return out + acks

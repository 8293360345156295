"""A workflow's live run state: workflow-level fields plus compact per-task columns.

Per task the controller keeps a few bytes in typed arrays (state, attempt, placement, ...);
only tasks in flight have a participant entry and only completed tasks with outputs have an
outputs entry. No Python object per task.
"""

from __future__ import annotations

from array import array
from typing import Any

from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.states import TS, WS
from helicase.controller._dag import Definition
from helicase.internal.v1 import controller_pb2

IN_FLIGHT = frozenset({TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING})

# One placement of one attempt of a task: (workflow id, task id, attempt, placement).
Ref = tuple[str, str, int, int]


class WorkflowRun:
    """One workflow on the controller."""

    __slots__ = (
        "attempt",
        "cancel_due",
        "deadline",
        "definition",
        "due",
        "earlier",
        "end_time",
        "failed",
        "final",
        "message",
        "outputs",
        "participant",
        "placement",
        "queued",
        "replacements",
        "start_time",
        "state",
        "task_state",
        "unfinished",
        "waiting",
    )

    def __init__(self, definition: Definition) -> None:
        size = len(definition)
        self.definition = definition
        self.state: int = WS.WORKFLOW_STATE_RUNNING
        self.message = ""
        self.start_time = 0.0
        self.end_time = 0.0
        self.failed = False  # a task failed for good: the workflow ends FAILED
        self.unfinished = size  # tasks not yet final
        self.task_state = bytearray([TS.TASK_STATE_PENDING]) * size
        # 1 once the task's outcome is settled for good (a FAILED that will not be retried too).
        self.final = bytearray(size)
        self.queued = bytearray(size)  # 1 while in the ready queue
        self.attempt = array("I", [0]) * size
        self.placement = array("I", [0]) * size
        self.replacements = bytearray(size)  # re-placements after losses, this attempt
        self.waiting = array("I", definition.dep_counts)  # dependencies not yet COMPLETED
        self.participant: dict[int, str] = {}  # tasks in flight only
        # Tasks not final whose current attempt had placements the controller gave up on (their
        # participant was lost, or the attempt timed out): placement -> the participant that held
        # it, the only one whose late result of it is taken. Each inner dict is replaced, never
        # changed in place, so a snapshot can share it.
        self.earlier: dict[int, dict[int, str]] = {}
        self.outputs: dict[int, dict[str, Any]] = {}  # COMPLETED tasks with outputs only
        # Timers live in the state too (absolute wall-clock seconds), so a new leader re-arms
        # them with what is left rather than starting over:
        self.due: dict[int, float] = {}  # a waiting retry or reschedule: when it is ready again
        self.deadline: dict[int, float] = {}  # tasks with a timeout: when this attempt times out
        self.cancel_due = 0.0  # CANCELING: when it ends CANCELED even without answers

    @property
    def id(self) -> str:
        return self.definition.workflow_id

    @property
    def terminal(self) -> bool:
        return self.state in WORKFLOW_TERMINAL

    def ref(self, index: int) -> Ref:
        return (self.id, self.definition.ids[index], self.attempt[index], self.placement[index])

    def give_up(self, index: int) -> None:
        """Records who held the task's live placement, which the controller stops waiting for
        while the attempt goes on (the caller then releases it)."""
        name = self.participant.get(index)
        if name:
            self.earlier[index] = {**self.earlier.get(index, {}), self.placement[index]: name}

    def earlier_holder(self, index: int, placement: int) -> str | None:
        """The participant that held an earlier placement of the current attempt, if recorded."""
        return self.earlier.get(index, {}).get(placement)

    def in_flight(self, index: int) -> bool:
        return self.task_state[index] in IN_FLIGHT

    def outputs_of(self, task_id: str) -> dict[str, Any] | None:
        index = self.definition.index.get(task_id)
        return None if index is None else self.outputs.get(index)

    def snapshot(self) -> WorkflowRun:
        """A copy to persist: the state as it is now, whatever the machine changes next. The
        definition is shared (it never changes), and so are the output dicts (set once, when
        their task COMPLETED); the columns are copied (a memcpy each)."""
        copy = WorkflowRun.__new__(WorkflowRun)
        for name in WorkflowRun.__slots__:
            value = getattr(self, name)
            if isinstance(value, bytearray | array):
                value = value[:]
            elif isinstance(value, dict):
                value = value.copy()
            setattr(copy, name, value)
        return copy

    def count_unfinished(self) -> None:
        """Recomputes derived counters after the columns were loaded."""
        self.unfinished = len(self.final) - sum(self.final)
        self.waiting = array("I", self.definition.dep_counts)
        for index, state in enumerate(self.task_state):
            if state == TS.TASK_STATE_COMPLETED:
                for child in self.definition.dependents_of(index):
                    self.waiting[child] -= 1


def status_of(workflow: WorkflowRun) -> controller_pb2.WorkflowStatus:
    status = controller_pb2.WorkflowStatus(
        workflow_id=workflow.id,
        state=workflow.state,  # type: ignore[arg-type]
        message=workflow.message,
    )
    if workflow.start_time:
        status.start_time.FromNanoseconds(int(workflow.start_time * 1e9))
    if workflow.end_time:
        status.end_time.FromNanoseconds(int(workflow.end_time * 1e9))
    return status

"""What every decision of the machine shares: the actions of the current step (each stamped with
the stimulus id), task state transitions (recorded in a bounded log, like dask/distributed's
`transition_log`), events, failed attempts and the failure policies, and how a workflow ends."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from google.protobuf import struct_pb2, timestamp_pb2

from helicase.common import events
from helicase.common.states import TS, WS
from helicase.controller import _invariants
from helicase.controller._actions import (
    RETRY,
    Action,
    Emit,
    Persist,
    SendCancel,
    StartTimer,
    WorkflowStatusChanged,
)
from helicase.controller._placement import Pool, ReadyQueue
from helicase.controller._retry import RetrySettings, backoff
from helicase.controller._transitions import check_task, check_workflow
from helicase.controller._workflow import Ref, WorkflowRun, status_of
from helicase.v1 import workflow_pb2

CONTINUE = workflow_pb2.FailurePolicy.FAILURE_POLICY_CONTINUE


@dataclass(frozen=True, kw_only=True)
class MachineSettings:
    """Limits of the controller's decisions."""

    # A participant whose stream broke (or that held tasks before a failover) and is not back
    # within this time is lost: its tasks are re-placed.
    participant_grace: timedelta = timedelta(seconds=5)
    # A CANCELING workflow ends CANCELED after this even if participants never answer.
    cancel_deadline: timedelta = timedelta(seconds=10)
    # Re-placements of one attempt after participant losses before the attempt counts as FAILED.
    max_replacements: int = 5
    # Task transitions kept for debugging.
    transition_log: int = 10_000


class Transition(NamedTuple):
    stimulus_id: str
    workflow_id: str
    task_id: str
    start: int
    finish: int


class Steps:
    """State and helpers shared by the decision code; see Machine for the decisions."""

    def __init__(self, *, source: str, settings: MachineSettings) -> None:
        self.source = source
        self.settings = settings
        self.workflows: dict[str, WorkflowRun] = {}
        self.pool = Pool()
        self.ready = ReadyQueue()
        self.transitions: deque[Transition] = deque(maxlen=settings.transition_log)
        self.finished: Counter[int] = Counter()  # attempts that reached each terminal state
        self._out: list[Action] = []
        self._changed: dict[str, WorkflowRun] = {}  # to persist at the end of this step
        self._sid = ""
        self._now = 0.0

    # -- actions -------------------------------------------------------------------------------

    def _act(self, action_type: type[Any], **fields: Any) -> None:
        self._out.append(action_type(stimulus_id=self._sid, **fields))

    def _timer(self, kind: str, key: tuple[Any, ...], delay: float) -> None:
        self._act(StartTimer, kind=kind, key=key, delay=max(0.0, delay))

    def _persist(self, workflow: WorkflowRun) -> None:
        """The step changes the workflow: its state is persisted as the step leaves it."""
        self._changed[workflow.id] = workflow

    def _persist_changed(self) -> None:
        """Ends a step: a Persist with a snapshot of each workflow it changed (and still holds:
        one released is deleted by its Forget instead)."""
        for workflow_id, workflow in self._changed.items():
            if self.workflows.get(workflow_id) is workflow:
                self._act(Persist, workflow_id=workflow_id, snapshot=workflow.snapshot())
        self._changed.clear()

    def _status_changed(self, workflow: WorkflowRun) -> None:
        self._act(WorkflowStatusChanged, status=status_of(workflow))

    def _at(self, when: float = 0.0) -> timestamp_pb2.Timestamp:
        return events.timestamp(datetime.fromtimestamp(when or self._now, UTC))

    def _emit_task(
        self,
        workflow: WorkflowRun,
        index: int,
        state: int,
        message: str = "",
        *,
        participant: str | None = None,
        outputs: dict[str, Any] | None = None,
        when: float = 0.0,
    ) -> None:
        struct = None
        if outputs is not None:
            struct = struct_pb2.Struct()
            struct.update(outputs)
        event = events.task_event(
            workflow_id=workflow.id,
            task_id=workflow.definition.ids[index],
            attempt=workflow.attempt[index],
            placement=workflow.placement[index],
            state=state,
            source=self.source,
            participant=workflow.participant.get(index, "") if participant is None else participant,
            message=message,
            outputs=struct,
            at=self._at(when),
        )
        self._act(Emit, event=event)

    def _emit_workflow(self, workflow: WorkflowRun) -> None:
        event = events.workflow_event(
            workflow_id=workflow.id,
            state=workflow.state,
            source=self.source,
            message=workflow.message,
            at=self._at(),
        )
        self._act(Emit, event=event)

    # -- task transitions ----------------------------------------------------------------------

    def _set(self, workflow: WorkflowRun, index: int, state: int) -> None:
        """Moves a task to `state`; raises InvalidTransition unless the table allows it."""
        start = workflow.task_state[index]
        task_id = workflow.definition.ids[index]
        check_task(self._sid, workflow.id, task_id, start, state)
        workflow.task_state[index] = state
        if state in events.TASK_TERMINAL and start != state:
            self.finished[state] += 1
        self.transitions.append(Transition(self._sid, workflow.id, task_id, start, state))

    def _set_workflow(self, workflow: WorkflowRun, state: int, message: str) -> None:
        """Moves the workflow to `state`; raises InvalidTransition unless the table allows it."""
        check_workflow(self._sid, workflow.id, workflow.state, state)
        workflow.state = state
        workflow.message = message

    def validate(self) -> None:
        """Checks the invariants of every workflow and participant (`_invariants`); raises
        InvalidState naming what does not hold. Tests run it after every step; in production
        the shell runs it when HELICASE_CONTROLLER_VALIDATE is set."""
        _invariants.validate(self.workflows.values(), self.pool, stimulus_id=self._sid)

    def _settle(self, workflow: WorkflowRun, index: int, state: int) -> None:
        """The task's outcome is final."""
        self._set(workflow, index, state)
        workflow.due.pop(index, None)
        workflow.deadline.pop(index, None)
        workflow.earlier.pop(index, None)
        if not workflow.final[index]:
            workflow.final[index] = 1
            workflow.unfinished -= 1

    def _release(self, workflow: WorkflowRun, index: int) -> None:
        """The task no longer runs anywhere (its participant's slot is freed by the caller)."""
        workflow.participant.pop(index, None)

    def _current(self, ref: Ref) -> tuple[WorkflowRun, int] | None:
        """The workflow and task index if `ref` is the task's live placement, else None."""
        workflow = self.workflows.get(ref[0])
        if workflow is None:
            return None
        index = workflow.definition.index.get(ref[1])
        if index is None or not workflow.in_flight(index):
            return None
        if (workflow.attempt[index], workflow.placement[index]) != (ref[2], ref[3]):
            return None
        return workflow, index

    def _held(self, ref: Ref, participant: str) -> tuple[WorkflowRun, int] | None:
        """`_current(ref)` when `participant` holds that placement; None when another one does
        (a result from a participant that was not given the task is never taken)."""
        found = self._current(ref)
        if found is not None and found[0].participant.get(found[1]) != participant:
            return None
        return found

    def _recorded(self, ref: Ref, outcome: int) -> bool:
        """Whether a result that is not the task's live placement is what the state records
        anyway: a repeat of a result taken before, or one of a workflow that is gone (released
        once finished: nothing of it runs again)."""
        workflow = self.workflows.get(ref[0])
        if workflow is None:
            return True
        index = workflow.definition.index.get(ref[1])
        return (
            index is not None
            and workflow.final[index] == 1
            and workflow.attempt[index] == ref[2]
            and workflow.task_state[index] == events.OUTCOME_STATE.get(outcome)
        )

    def _enqueue(self, workflow: WorkflowRun, index: int) -> None:
        if not workflow.queued[index]:
            workflow.queued[index] = 1
            self.ready.push(workflow.definition.kind(index), workflow.id, index, self._now)

    def _make_ready(self, workflow: WorkflowRun, index: int, *, new_attempt: bool) -> None:
        if new_attempt:
            workflow.attempt[index] += 1
            workflow.placement[index] = 0
            workflow.replacements[index] = 0
            workflow.earlier.pop(index, None)
        # A new attempt, or a re-placement after its participant was lost: the timeout starts
        # again when it is placed.
        workflow.due.pop(index, None)
        workflow.deadline.pop(index, None)
        self._release(workflow, index)
        self._set(workflow, index, TS.TASK_STATE_READY)
        self._enqueue(workflow, index)

    def _attempt_failed(self, workflow: WorkflowRun, index: int, state: int, message: str) -> None:
        """A FAILED or TIMED_OUT attempt (or an unrequested CANCELED one, retried like a failure):
        retry after a backoff while attempts remain, else apply the failure policy."""
        retry_state = (
            TS.TASK_STATE_TIMED_OUT if state == TS.TASK_STATE_TIMED_OUT else TS.TASK_STATE_FAILED
        )
        self._set(workflow, index, retry_state)
        self._release(workflow, index)
        settings = RetrySettings.of(workflow.definition.task(index))
        attempt = workflow.attempt[index]
        if attempt < settings.max_attempts:
            self._schedule_retry(workflow, index, settings)
            return
        self._settle(workflow, index, retry_state)
        name = TS.Name(retry_state).removeprefix("TASK_STATE_")
        task_id = workflow.definition.ids[index]
        reason = f"task {task_id} {name} after {attempt} attempts: {message}"
        self._apply_failure_policy(workflow, index, reason)

    def _schedule_retry(
        self, workflow: WorkflowRun, index: int, settings: RetrySettings | None = None
    ) -> None:
        """Starts the timer of the task's next attempt; after a failover, with what is left."""
        ref = workflow.ref(index)
        at = workflow.due.get(index)
        if at is None:
            settings = settings or RetrySettings.of(workflow.definition.task(index))
            at = self._now + backoff(settings, ref[2], "/".join(map(str, ref)))
            workflow.due[index] = at
        self._timer(RETRY, ref[:3], at - self._now)

    def _overdue(self, workflow: WorkflowRun, index: int) -> bool:
        """Whether the task's attempt has used up its timeout (counted across reschedules)."""
        deadline = workflow.deadline.get(index)
        return deadline is not None and self._now >= deadline

    def _time_out_waiting(self, workflow: WorkflowRun, index: int) -> None:
        """A rescheduled attempt whose timeout passed before it could run again: TIMED_OUT."""
        message = "timed out: the attempt's timeout passed while it waited to run again"
        self._emit_task(workflow, index, TS.TASK_STATE_TIMED_OUT, message)
        self._persist(workflow)
        self._attempt_failed(workflow, index, TS.TASK_STATE_TIMED_OUT, message)
        self._maybe_finish(workflow)

    def _apply_failure_policy(self, workflow: WorkflowRun, index: int, reason: str) -> None:
        workflow.failed = True
        if workflow.definition.failure_policy == CONTINUE:
            workflow.message = workflow.message or reason
            self._skip_dependents(workflow, index, f"dependency failed: {reason}")
        else:
            self._fail_fast(workflow, reason)

    # -- ending --------------------------------------------------------------------------------

    def _stop_task(self, workflow: WorkflowRun, index: int, reason: str) -> None:
        """Ends a task that has not finished because its workflow stops: one in flight is told to
        stop (its slot frees when its result arrives) and ends CANCELED, as does one that ran
        before in this attempt; one that never ran this attempt ends SKIPPED."""
        if workflow.in_flight(index):
            participant = workflow.participant.get(index, "")
            self._act(SendCancel, participant=participant, ref=workflow.ref(index), reason=reason)
            self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, reason)
            self._settle(workflow, index, TS.TASK_STATE_CANCELED)
            self._release(workflow, index)
        elif workflow.placement[index] == 0:
            self._emit_task(workflow, index, TS.TASK_STATE_SKIPPED, reason)
            self._settle(workflow, index, TS.TASK_STATE_SKIPPED)
        else:
            self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, reason)
            self._settle(workflow, index, TS.TASK_STATE_CANCELED)

    def _fail_fast(self, workflow: WorkflowRun, reason: str) -> None:
        """Cancel what runs, skip what waits, FAILED at once."""
        for index, final in enumerate(workflow.final):
            if not final:
                self._stop_task(workflow, index, reason)
        self._finish(workflow, WS.WORKFLOW_STATE_FAILED, reason)

    def _skip_dependents(self, workflow: WorkflowRun, index: int, reason: str) -> None:
        """CONTINUE: every transitive dependent is SKIPPED; other branches run on."""
        stack = list(workflow.definition.dependents_of(index))
        while stack:
            child = stack.pop()
            if workflow.final[child]:
                continue
            self._emit_task(workflow, child, TS.TASK_STATE_SKIPPED, reason)
            self._settle(workflow, child, TS.TASK_STATE_SKIPPED)
            stack.extend(workflow.definition.dependents_of(child))

    def _maybe_finish(self, workflow: WorkflowRun) -> None:
        if workflow.unfinished > 0 or workflow.terminal:
            return
        if workflow.state == WS.WORKFLOW_STATE_CANCELING:
            self._finish(workflow, WS.WORKFLOW_STATE_CANCELED, workflow.message)
        elif workflow.failed:
            self._finish(workflow, WS.WORKFLOW_STATE_FAILED, workflow.message)
        else:
            self._finish(workflow, WS.WORKFLOW_STATE_COMPLETED, "")

    def _finish(self, workflow: WorkflowRun, state: int, message: str) -> None:
        self._set_workflow(workflow, state, message)
        workflow.end_time = self._now
        self._emit_workflow(workflow)
        self._persist(workflow)
        self._status_changed(workflow)

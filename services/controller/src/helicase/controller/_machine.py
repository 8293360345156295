"""The controller's decisions as a pure state machine: `handle(stimulus) -> actions`.

Single-threaded and free of I/O and clocks: time arrives with each stimulus. The shell
(helicase.controller._shell) feeds stimuli in and carries actions out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from helicase.common import events
from helicase.controller import _dag, _params
from helicase.controller._model import (
    CANCEL_DEADLINE,
    IN_FLIGHT,
    MAX_REPLACEMENTS,
    TS,
    WS,
    AckResult,
    Action,
    Assign,
    CancelRequested,
    Emit,
    Forget,
    Key,
    ParticipantJoined,
    ParticipantLost,
    ParticipantView,
    Persist,
    SendCancel,
    StartTimer,
    StatusChanged,
    Stimulus,
    TaskResultReceived,
    TaskStarted,
    TimerFired,
    WorkflowReleased,
    WorkflowRun,
    WorkflowSubmitted,
)
from helicase.v1 import participant_pb2

log = logging.getLogger(__name__)
Outcome = participant_pb2.TaskOutcome


class Machine:
    """All workflows and participants the leader tracks."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.workflows: dict[str, WorkflowRun] = {}
        self.participants: dict[str, ParticipantView] = {}
        # READY tasks waiting for a slot, FIFO per (instance group, task type).
        self.ready: dict[tuple[str, str], deque[tuple[str, int]]] = {}
        self._out: list[Action] = []
        self._now = 0.0

    # -- entry point -------------------------------------------------------------------------

    def handle(self, stimulus: Stimulus) -> list[Action]:
        self._out = []
        self._now = stimulus.now
        match stimulus:
            case WorkflowSubmitted():
                self._submit(stimulus)
            case TaskStarted():
                self._started(stimulus.key)
            case TaskResultReceived():
                self._result(stimulus)
            case ParticipantJoined():
                self._joined(stimulus)
            case ParticipantLost():
                self._lost(stimulus.name)
            case TimerFired():
                self._timer(stimulus)
            case CancelRequested():
                self._cancel(stimulus.workflow_id, stimulus.reason)
            case WorkflowReleased():
                if self.workflows.pop(stimulus.workflow_id, None) is not None:
                    self._out.append(Forget(stimulus.workflow_id))
        self._place()
        out, self._out = self._out, []
        return out

    def restore(self, workflow: WorkflowRun) -> None:
        """Adopts a workflow loaded from ZooKeeper (after a failover)."""
        self.workflows[workflow.id] = workflow
        for index, run in enumerate(workflow.runs):
            if workflow.terminal:
                break
            if run.state == TS.TASK_STATE_READY:
                self._enqueue(workflow, index)
            elif run.state in IN_FLIGHT and run.participant:
                view = self.participants.get(run.participant)
                if view is None:
                    # Unknown until it reconnects; placeholder with no free slots.
                    view = ParticipantView(
                        name=run.participant, group=workflow.specs[index].group,
                        task_types=frozenset(), capacity=0, connected=False,
                    )  # fmt: skip
                    self.participants[run.participant] = view
                view.load.add(workflow.key(index))

    # -- helpers -----------------------------------------------------------------------------

    def _emit_task(self, workflow: WorkflowRun, index: int, state: int, message: str = "",
                   outputs: struct_pb2.Struct | None = None) -> None:  # fmt: skip
        run = workflow.runs[index]
        self._out.append(
            Emit(
                events.task_event(
                    workflow_id=workflow.id, task_id=workflow.specs[index].id,
                    attempt=run.attempt, placement=run.placement, state=state,
                    source=self.source, participant=run.participant, message=message,
                    outputs=outputs, at=self._ts(),
                )
            )
        )  # fmt: skip

    def _ts(self) -> timestamp_pb2.Timestamp:
        return events.timestamp(datetime.fromtimestamp(self._now, UTC))

    def _changed(self, workflow: WorkflowRun) -> None:
        self._out.append(Persist(workflow.id))

    def _enqueue(self, workflow: WorkflowRun, index: int) -> None:
        spec = workflow.specs[index]
        self.ready.setdefault((spec.group, spec.type), deque()).append((workflow.id, index))

    def _make_ready(self, workflow: WorkflowRun, index: int, *, new_attempt: bool) -> None:
        run = workflow.runs[index]
        if new_attempt:
            run.attempt += 1
            run.placement = 0
        run.state = TS.TASK_STATE_READY
        run.participant = ""
        self._enqueue(workflow, index)

    def _set_final(self, workflow: WorkflowRun, index: int, state: int, *, failed: bool) -> None:
        run = workflow.runs[index]
        run.state = state
        run.final = True
        workflow.unfinished -= 1
        if failed:
            workflow.failed = True

    def _release_slot(self, participant: str, key: Key) -> None:
        view = self.participants.get(participant)
        if view is not None:
            view.load.discard(key)

    # -- placement ---------------------------------------------------------------------------

    def _place(self) -> None:
        for (group, task_type), queue in self.ready.items():
            while queue:
                candidates = [
                    p for p in self.participants.values()
                    if p.group == group and task_type in p.task_types and p.free > 0
                ]  # fmt: skip
                if not candidates:
                    break
                workflow_id, index = queue.popleft()
                workflow = self.workflows.get(workflow_id)
                if workflow is None or workflow.state != WS.WORKFLOW_STATE_RUNNING:
                    continue
                run = workflow.runs[index]
                if run.state != TS.TASK_STATE_READY:
                    continue
                target = min(candidates, key=lambda p: (len(p.load) / p.capacity, p.name))
                self._assign(workflow, index, target)

    def _assign(self, workflow: WorkflowRun, index: int, target: ParticipantView) -> None:
        spec, run = workflow.specs[index], workflow.runs[index]
        run.placement += 1
        run.state = TS.TASK_STATE_ASSIGNED
        run.participant = target.name
        key = workflow.key(index)
        target.load.add(key)
        definition = workflow.definition.tasks[index]
        params = (
            json_format.MessageToDict(definition.params) if definition.HasField("params") else {}
        )
        if "${" in str(params):
            params = _params.resolve(params, lambda tid: self._outputs(workflow, tid))
        struct = struct_pb2.Struct()
        struct.update(params)
        self._out.append(Assign(target.name, key, spec.type, struct, spec.timeout))
        self._emit_task(workflow, index, TS.TASK_STATE_ASSIGNED)
        self._changed(workflow)

    @staticmethod
    def _outputs(workflow: WorkflowRun, task_id: str) -> dict[str, object] | None:
        index = workflow.index.get(task_id)
        return None if index is None else workflow.runs[index].outputs

    # -- stimuli -----------------------------------------------------------------------------

    def _submit(self, stimulus: WorkflowSubmitted) -> None:
        if stimulus.workflow.id in self.workflows:
            return  # idempotent
        workflow = _dag.build(stimulus.workflow)
        workflow.start_time = self._now
        self.workflows[workflow.id] = workflow
        self._out.append(
            Emit(events.workflow_event(workflow_id=workflow.id, state=WS.WORKFLOW_STATE_RUNNING,
                                       source=self.source, at=self._ts()))
        )  # fmt: skip
        for index, spec in enumerate(workflow.specs):
            if not spec.deps:
                self._make_ready(workflow, index, new_attempt=True)
        self._changed(workflow)
        self._out.append(StatusChanged(workflow.id))

    def _current(self, key: Key) -> tuple[WorkflowRun, int] | None:
        workflow = self.workflows.get(key[0])
        if workflow is None:
            return None
        index = workflow.index.get(key[1])
        if index is None:
            return None
        run = workflow.runs[index]
        if (run.attempt, run.placement) != key[2:] or run.state not in IN_FLIGHT:
            return None
        return workflow, index

    def _started(self, key: Key) -> None:
        found = self._current(key)
        if found is not None:
            found[0].runs[found[1]].state = TS.TASK_STATE_RUNNING

    def _result(self, stimulus: TaskResultReceived) -> None:
        self._release_slot(stimulus.participant, stimulus.key)
        self._out.append(AckResult(stimulus.participant, stimulus.key))
        found = self._current(stimulus.key)
        if found is None:
            return  # stale: an old attempt or placement, or a stopped workflow
        workflow, index = found
        run, spec = workflow.runs[index], workflow.specs[index]
        outcome = stimulus.outcome
        self._changed(workflow)
        if outcome == Outcome.TASK_OUTCOME_RESCHEDULE:
            run.state = TS.TASK_STATE_READY
            delay = max(0.0, stimulus.reschedule_after)
            key = (workflow.id, spec.id, run.attempt, run.placement)
            self._out.append(StartTimer("reschedule", key, delay))
            return
        state = events.OUTCOME_STATE.get(outcome, TS.TASK_STATE_FAILED)
        outputs = None
        if stimulus.outputs is not None and state == TS.TASK_STATE_COMPLETED:
            outputs = struct_pb2.Struct()
            outputs.update(stimulus.outputs)
        self._emit_task(workflow, index, state, stimulus.message, outputs)
        if workflow.state == WS.WORKFLOW_STATE_CANCELING:
            final = (
                TS.TASK_STATE_COMPLETED
                if state == TS.TASK_STATE_COMPLETED
                else TS.TASK_STATE_CANCELED
            )
            if final != state:
                self._emit_task(workflow, index, final, "canceled")
            self._set_final(workflow, index, final, failed=False)
            self._maybe_finish(workflow)
            return
        if state == TS.TASK_STATE_COMPLETED:
            run.outputs = stimulus.outputs or {}
            self._set_final(workflow, index, state, failed=False)
            for dependent in spec.dependents:
                child = workflow.runs[dependent]
                child.waiting -= 1
                if child.waiting == 0 and child.state == TS.TASK_STATE_PENDING:
                    self._make_ready(workflow, dependent, new_attempt=True)
        elif state == TS.TASK_STATE_FATAL_FAILED:
            self._set_final(workflow, index, state, failed=True)
            self._stop(workflow, f"task {spec.id} FATAL_FAILED: {stimulus.message}")
            return
        elif state == TS.TASK_STATE_CANCELED:
            # Canceled without a workflow cancel (e.g. a participant shutting down): retry it.
            self._failed_attempt(workflow, index, state, stimulus.message)
        else:
            self._failed_attempt(workflow, index, state, stimulus.message)
        self._maybe_finish(workflow)

    def _failed_attempt(self, workflow: WorkflowRun, index: int, state: int, message: str) -> None:
        run, spec = workflow.runs[index], workflow.specs[index]
        run.state = state if state != TS.TASK_STATE_CANCELED else TS.TASK_STATE_FAILED
        if run.attempt < spec.max_attempts:
            delay = _dag.backoff(spec, run.attempt, f"{workflow.id}/{spec.id}/{run.attempt}")
            self._out.append(StartTimer("retry", (workflow.id, spec.id, run.attempt), delay))
            return
        name = TS.Name(state).removeprefix("TASK_STATE_")  # type: ignore[arg-type]
        reason = f"task {spec.id} {name} after {run.attempt} attempts: {message}"
        self._set_final(workflow, index, run.state, failed=True)
        if workflow.definition.failure_policy == 2:  # FAILURE_POLICY_CONTINUE
            self._skip_dependents(workflow, index)
            workflow.message = workflow.message or reason
        else:
            self._stop(workflow, reason)

    def _skip_dependents(self, workflow: WorkflowRun, index: int) -> None:
        stack = list(workflow.specs[index].dependents)
        while stack:
            child = stack.pop()
            run = workflow.runs[child]
            if run.final or run.state != TS.TASK_STATE_PENDING:
                continue
            self._set_final(workflow, child, TS.TASK_STATE_SKIPPED, failed=False)
            self._emit_task(workflow, child, TS.TASK_STATE_SKIPPED, "a dependency failed")
            stack.extend(workflow.specs[child].dependents)

    def _stop(self, workflow: WorkflowRun, reason: str) -> None:
        """FAIL_FAST: cancel what runs, skip the rest, FAILED at once."""
        for index, run in enumerate(workflow.runs):
            if run.final:
                continue
            if run.state in IN_FLIGHT:
                self._out.append(SendCancel(run.participant, workflow.key(index), reason))
                self._set_final(workflow, index, TS.TASK_STATE_CANCELED, failed=False)
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, "workflow stopped")
            else:
                self._set_final(workflow, index, TS.TASK_STATE_SKIPPED, failed=False)
                self._emit_task(workflow, index, TS.TASK_STATE_SKIPPED, "workflow stopped")
        self._finish(workflow, WS.WORKFLOW_STATE_FAILED, reason)

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
        workflow.state = state
        workflow.message = message
        workflow.end_time = self._now
        self._out.append(
            Emit(events.workflow_event(workflow_id=workflow.id, state=state, source=self.source,
                                       message=message, at=self._ts()))
        )  # fmt: skip
        self._changed(workflow)
        self._out.append(StatusChanged(workflow.id))

    def _cancel(self, workflow_id: str, reason: str) -> None:
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.terminal or workflow.state == WS.WORKFLOW_STATE_CANCELING:
            return
        workflow.state = WS.WORKFLOW_STATE_CANCELING
        workflow.message = f"canceled: {reason}" if reason else "canceled"
        for index, run in enumerate(workflow.runs):
            if run.final:
                continue
            if run.state in IN_FLIGHT:
                self._out.append(SendCancel(run.participant, workflow.key(index), workflow.message))
            else:
                self._set_final(workflow, index, TS.TASK_STATE_CANCELED, failed=False)
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, workflow.message)
        self._changed(workflow)
        self._out.append(StatusChanged(workflow.id))
        self._out.append(StartTimer("cancel", (workflow.id,), CANCEL_DEADLINE))
        self._maybe_finish(workflow)

    def _joined(self, stimulus: ParticipantJoined) -> None:
        previous = self.participants.get(stimulus.name)
        view = ParticipantView(
            name=stimulus.name, group=stimulus.group, task_types=stimulus.task_types,
            capacity=max(1, stimulus.capacity),
        )  # fmt: skip
        if previous is not None:
            view.load = previous.load
        view.load |= {k for k in stimulus.running if self._current(k) is not None}
        self.participants[stimulus.name] = view
        # Assignments that may have been lost while the stream was down are sent again; the
        # participant ignores a task it runs or has finished.
        for key in sorted(view.load - stimulus.running):
            found = self._current(key)
            if found is None:
                view.load.discard(key)
                continue
            workflow, index = found
            view.load.discard(key)
            workflow.runs[index].placement -= 1
            self._assign(workflow, index, view)

    def _lost(self, name: str) -> None:
        view = self.participants.pop(name, None)
        if view is None:
            return
        for key in sorted(view.load):
            found = self._current(key)
            if found is None:
                continue
            workflow, index = found
            run = workflow.runs[index]
            self._changed(workflow)
            if workflow.state == WS.WORKFLOW_STATE_CANCELING:
                self._set_final(workflow, index, TS.TASK_STATE_CANCELED, failed=False)
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, "participant lost")
                self._maybe_finish(workflow)
                continue
            run.replacements += 1
            if run.replacements > MAX_REPLACEMENTS:
                self._emit_task(workflow, index, TS.TASK_STATE_FAILED, f"participant {name} lost")
                self._failed_attempt(
                    workflow, index, TS.TASK_STATE_FAILED, f"participant {name} lost"
                )
                self._maybe_finish(workflow)
            else:
                self._make_ready(workflow, index, new_attempt=False)

    def _timer(self, stimulus: TimerFired) -> None:
        if stimulus.kind == "retry":
            workflow_id, task_id, attempt = stimulus.key
            workflow = self.workflows.get(workflow_id)
            if workflow is None or workflow.state != WS.WORKFLOW_STATE_RUNNING:
                return
            index = workflow.index[task_id]
            run = workflow.runs[index]
            if run.attempt == attempt and not run.final and run.state in (
                TS.TASK_STATE_FAILED, TS.TASK_STATE_TIMED_OUT
            ):  # fmt: skip
                self._make_ready(workflow, index, new_attempt=True)
                self._changed(workflow)
        elif stimulus.kind == "reschedule":
            workflow_id, task_id, attempt, placement = stimulus.key
            workflow = self.workflows.get(workflow_id)
            if workflow is None or workflow.state != WS.WORKFLOW_STATE_RUNNING:
                return
            index = workflow.index[task_id]
            run = workflow.runs[index]
            if (run.attempt, run.placement, run.state) == (attempt, placement, TS.TASK_STATE_READY):
                self._enqueue(workflow, index)
        elif stimulus.kind == "cancel":
            workflow = self.workflows.get(stimulus.key[0])
            if workflow is None or workflow.state != WS.WORKFLOW_STATE_CANCELING:
                return
            for index, run in enumerate(workflow.runs):
                if not run.final:
                    self._set_final(workflow, index, TS.TASK_STATE_CANCELED, failed=False)
                    self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, "no answer to cancel")
            self._maybe_finish(workflow)
        elif stimulus.kind == "recovery":
            for view in [p for p in self.participants.values() if not p.connected]:
                self._lost(view.name)

    def in_flight(self) -> Iterable[tuple[str, Key]]:
        for view in self.participants.values():
            for key in view.load:
                yield view.name, key

"""The controller's decisions as a pure state machine: `Machine.handle(stimulus) -> actions`.

Single-threaded and free of I/O and clocks: time arrives with each stimulus. The I/O shell
(`_shell.LeaderShell`) feeds stimuli in and carries the actions out.
"""

from __future__ import annotations

from google.protobuf import json_format

from helicase.common import events
from helicase.common.limits import seconds_of
from helicase.common.states import TS, WS
from helicase.controller import _params
from helicase.controller._actions import (
    CANCEL_DEADLINE,
    PARTICIPANT_GRACE,
    RESCHEDULE,
    RETRY,
    TASK_DEADLINE,
    TASK_DEADLINE_GRACE,
    AckResult,
    Action,
    Assign,
    Forget,
    SendCancel,
)
from helicase.controller._placement import ParticipantView
from helicase.controller._steps import MachineSettings, Steps
from helicase.controller._stimuli import (
    AnyStimulus,
    CancelRequested,
    LeadershipTaken,
    ParticipantDisconnected,
    ParticipantJoined,
    ParticipantLost,
    TaskResultReceived,
    TaskStarted,
    TimerFired,
    WorkflowReleased,
    WorkflowSubmitted,
)
from helicase.controller._workflow import Ref, WorkflowRun
from helicase.internal.v1 import participant_pb2
from helicase.v1 import workflow_pb2

Outcome = participant_pb2.TaskOutcome
CONTINUE = workflow_pb2.FailurePolicy.FAILURE_POLICY_CONTINUE


class Machine(Steps):
    """Every workflow and participant the leader tracks."""

    def __init__(self, *, source: str, settings: MachineSettings | None = None) -> None:
        super().__init__(source=source, settings=settings or MachineSettings())

    def handle(self, stimulus: AnyStimulus) -> list[Action]:
        self._out = []
        self._changed.clear()
        self._sid = stimulus.stimulus_id
        self._now = stimulus.now
        match stimulus:
            case WorkflowSubmitted():
                self._submit(stimulus)
            case TaskStarted():
                found = self._current(stimulus.ref)
                if found is not None and found[0].task_state[found[1]] == TS.TASK_STATE_ASSIGNED:
                    self._set(found[0], found[1], TS.TASK_STATE_RUNNING)
            case TaskResultReceived():
                self._result(stimulus)
            case ParticipantJoined():
                self._joined(stimulus)
            case ParticipantDisconnected():
                self._disconnected(stimulus.name)
            case ParticipantLost():
                self._lost(stimulus.name, stimulus.reason)
            case TimerFired():
                self._timer_fired(stimulus)
            case CancelRequested():
                self._cancel(stimulus.workflow_id, stimulus.reason)
            case WorkflowReleased():
                released = self.workflows.get(stimulus.workflow_id)
                if released is not None and released.terminal:  # a live one is never dropped
                    del self.workflows[stimulus.workflow_id]
                    self._act(Forget, workflow_id=stimulus.workflow_id)
            case LeadershipTaken():
                self._take_over(stimulus)
        self._place()
        self._persist_changed()
        out, self._out = self._out, []
        return out

    # -- placement -----------------------------------------------------------------------------

    def _still_ready(self, workflow_id: str, index: int) -> bool:
        """Whether a ready-queue entry is live; a dead one's queued mark is cleared."""
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            return False
        if workflow.state == WS.WORKFLOW_STATE_RUNNING and (
            workflow.task_state[index] == TS.TASK_STATE_READY
        ):
            return True
        workflow.queued[index] = 0
        return False

    def _place(self) -> None:
        while (found := self.ready.pop_next(is_live=self._still_ready, pool=self.pool)) is not None:
            workflow_id, index, target, since = found
            workflow = self.workflows[workflow_id]
            workflow.queued[index] = 0
            if self._overdue(workflow, index):
                self._time_out_waiting(workflow, index)
                continue
            workflow.placement[index] += 1
            self._assign(workflow, index, target, waited=self._now - since)

    def _assign(
        self,
        workflow: WorkflowRun,
        index: int,
        target: ParticipantView,
        *,
        waited: float | None = None,
    ) -> None:
        """Sends the task's current ref to `target` (again, after a reconnect)."""
        task = workflow.definition.task(index)
        params = json_format.MessageToDict(task.params) if task.HasField("params") else {}
        params = _params.resolve_params(task.type, params, workflow.outputs_of)
        timeout = seconds_of(task.timeout) if task.HasField("timeout") else 0.0
        remaining: float | None = None
        if timeout > 0:  # the attempt's budget: reschedules and reconnects do not renew it
            deadline = workflow.deadline.setdefault(index, self._now + timeout)
            remaining = max(deadline - self._now, 0.001)
        ref = workflow.ref(index)
        workflow.participant[index] = target.name
        target.load.add(ref)
        if workflow.task_state[index] != TS.TASK_STATE_RUNNING:
            self._set(workflow, index, TS.TASK_STATE_ASSIGNED)
        self._act(
            Assign,
            participant=target.name,
            ref=ref,
            type=task.type,
            params=params,
            timeout=remaining,
            waited=waited,
        )
        self._emit_task(workflow, index, TS.TASK_STATE_ASSIGNED)
        self._persist(workflow)
        if remaining is not None:
            self._timer(TASK_DEADLINE, ref, remaining + TASK_DEADLINE_GRACE)

    # -- workflows -----------------------------------------------------------------------------

    def _submit(self, stimulus: WorkflowSubmitted) -> None:
        definition = stimulus.definition
        if definition.workflow_id in self.workflows:
            return  # idempotent: a repeated submit changes nothing
        workflow = WorkflowRun(definition)
        workflow.start_time = self._now
        self.workflows[workflow.id] = workflow
        self._emit_workflow(workflow)
        for index, count in enumerate(definition.dep_counts):
            if count == 0:
                self._make_ready(workflow, index, new_attempt=True)
        self._persist(workflow)
        self._status_changed(workflow)
        self._maybe_finish(workflow)  # a workflow without tasks is done at once

    def _cancel(self, workflow_id: str, reason: str) -> None:
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.state != WS.WORKFLOW_STATE_RUNNING:
            return  # unknown, terminal or already CANCELING: nothing to do
        message = f"canceled: {reason}" if reason else "canceled"
        self._set_workflow(workflow, WS.WORKFLOW_STATE_CANCELING, message)
        self._emit_workflow(workflow)
        for index, final in enumerate(workflow.final):
            if final:
                continue
            if workflow.in_flight(index):  # ends when its result arrives
                self._act(
                    SendCancel,
                    participant=workflow.participant.get(index, ""),
                    ref=workflow.ref(index),
                    reason=workflow.message,
                    given_up=False,
                )
            else:
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, workflow.message)
                self._settle(workflow, index, TS.TASK_STATE_CANCELED)
        workflow.cancel_due = self._now + self.settings.cancel_deadline.total_seconds()
        self._timer(CANCEL_DEADLINE, (workflow.id,), workflow.cancel_due - self._now)
        self._persist(workflow)
        self._status_changed(workflow)
        self._maybe_finish(workflow)

    def _take_over(self, stimulus: LeadershipTaken) -> None:
        """Adopts the workflows of a previous leader. Tasks in flight stay so; their participants
        get the grace period to reconnect and claim them. Timers died with the old leader; their
        due times are in the state, so each is started again with what is left of it: waiting
        retries and reschedules, task deadlines and the cancel deadline."""
        grace = self.settings.participant_grace.total_seconds()
        for workflow in stimulus.workflows:
            self.workflows[workflow.id] = workflow
            self._announce_again(workflow)
            if workflow.state == WS.WORKFLOW_STATE_CANCELING:
                full = self._now + self.settings.cancel_deadline.total_seconds()
                workflow.cancel_due = workflow.cancel_due or full
                self._timer(CANCEL_DEADLINE, (workflow.id,), workflow.cancel_due - self._now)
            if workflow.terminal:
                continue
            for index, state in enumerate(workflow.task_state):
                if workflow.final[index]:
                    continue
                if state == TS.TASK_STATE_READY:
                    due = workflow.due.get(index)
                    if due is None:
                        self._enqueue(workflow, index)
                    else:  # waiting out a RESCHEDULE
                        self._timer(RESCHEDULE, workflow.ref(index), due - self._now)
                elif state in (TS.TASK_STATE_FAILED, TS.TASK_STATE_TIMED_OUT):
                    self._schedule_retry(workflow, index)
                elif workflow.in_flight(index):
                    self._claim(workflow, index, grace)
                    deadline = workflow.deadline.get(index)
                    if deadline is not None:
                        delay = deadline + TASK_DEADLINE_GRACE - self._now
                        self._timer(TASK_DEADLINE, workflow.ref(index), delay)

    def _announce_again(self, workflow: WorkflowRun) -> None:
        """Publishes again what the state records as decided: the workflow's state and each
        final task's outcome other than COMPLETED (a participant publishes that itself before
        it reports the result). A previous leader publishes its decisions once their state is
        durable, but may die before Kafka has them; event ids are deterministic, so what was
        stored already is dropped as a duplicate."""
        for index, final in enumerate(workflow.final):
            state = workflow.task_state[index]
            if final and state != TS.TASK_STATE_COMPLETED:
                skipped_or_stopped = state in (TS.TASK_STATE_SKIPPED, TS.TASK_STATE_CANCELED)
                self._emit_task(
                    workflow, index, state, workflow.message if skipped_or_stopped else ""
                )
        self._emit_workflow(workflow)

    def _claim(self, workflow: WorkflowRun, index: int, grace: float) -> None:
        name = workflow.participant.get(index, "")
        view = self.pool.get(name)
        if view is None:  # not seen since the failover: a placeholder without free slots
            group, _ = workflow.definition.kind(index)
            view = ParticipantView(
                name=name,
                group=group,
                task_types=frozenset(),
                capacity=0,
                connected=False,
                session=self.pool.new_session(),
            )
            self.pool.put(view)
            self._timer(PARTICIPANT_GRACE, (name, view.session), grace)
        view.load.add(workflow.ref(index))

    # -- results -------------------------------------------------------------------------------

    def _result(self, stimulus: TaskResultReceived) -> None:
        self.pool.release(stimulus.participant, stimulus.ref)
        found = self._held(stimulus.ref, stimulus.participant) or self._late_completion(stimulus)
        if found is None:  # stale: an old attempt or placement, a stopped or unknown workflow
            taken = self._recorded(stimulus.ref, stimulus.outcome)
            self._act(AckResult, participant=stimulus.participant, ref=stimulus.ref, taken=taken)
            return
        self._act(AckResult, participant=stimulus.participant, ref=stimulus.ref)
        workflow, index = found
        self._persist(workflow)
        outcome = stimulus.outcome
        if (
            outcome == Outcome.TASK_OUTCOME_RESCHEDULE
            and workflow.state == WS.WORKFLOW_STATE_RUNNING
        ):
            self._release(workflow, index)
            self._set(workflow, index, TS.TASK_STATE_READY)
            delay = stimulus.reschedule_after
            deadline = workflow.deadline.get(index)
            if deadline is not None:  # it cannot wait past its timeout
                delay = min(delay, max(0.0, deadline - self._now))
            workflow.due[index] = self._now + delay
            self._timer(RESCHEDULE, stimulus.ref, delay)
            return
        state = events.OUTCOME_STATE.get(outcome, TS.TASK_STATE_FAILED)
        message = stimulus.message or (
            "" if outcome in events.OUTCOME_STATE else f"outcome {outcome}"
        )
        outputs = stimulus.outputs if state == TS.TASK_STATE_COMPLETED else None
        if outcome not in events.OUTCOME_STATE:
            # The participant published an event for every outcome it knows, durably, before it
            # reported the result; an outcome it does not know is recorded here, as FAILED.
            self._emit_task(
                workflow, index, state, message, outputs=outputs, when=stimulus.finished_at
            )
        if state == TS.TASK_STATE_COMPLETED:
            self._completed(workflow, index, outputs)
        elif workflow.state == WS.WORKFLOW_STATE_CANCELING:
            self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, workflow.message)
            self._settle(workflow, index, TS.TASK_STATE_CANCELED)
        elif state == TS.TASK_STATE_FATAL_FAILED:
            self._settle(workflow, index, state)
            task_id = workflow.definition.ids[index]
            # Non-retryable means the workflow cannot succeed: it stops at once, whatever the
            # failure policy (design: FATAL_FAILED stops a workflow at once).
            workflow.failed = True
            self._fail_fast(workflow, f"task {task_id} FATAL_FAILED: {message}")
        else:
            self._attempt_failed(workflow, index, state, message)
        self._release(workflow, index)
        self._maybe_finish(workflow)

    def _late_completion(self, stimulus: TaskResultReceived) -> tuple[WorkflowRun, int] | None:
        """A COMPLETED result of the current attempt from a placement given up before (its
        participant was declared lost, or the controller timed the attempt out, and the result
        came after all): the work is done, so it is taken, and a later placement is stopped
        instead of running the task once more. Only from the participant recorded as holding
        that placement when it was given up (`WorkflowRun.earlier`); from any other it is
        superseded."""
        if stimulus.outcome != Outcome.TASK_OUTCOME_COMPLETED:
            return None
        workflow_id, task_id, attempt, placement = stimulus.ref
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.terminal:
            return None
        index = workflow.definition.index.get(task_id)
        view = self.pool.get(stimulus.participant)
        if (
            index is None
            or workflow.final[index]
            or workflow.attempt[index] != attempt
            or workflow.placement[index] < placement
            # the live placement is its holder's (`_held`); an earlier one is taken only from
            # the participant that held it, as recorded when the controller gave it up
            or (workflow.in_flight(index) and workflow.placement[index] == placement)
            or workflow.earlier_holder(index, placement) != stimulus.participant
            or (view is not None and view.group != workflow.definition.kind(index)[0])
        ):
            return None
        if workflow.in_flight(index):
            later = workflow.ref(index)
            participant = workflow.participant.get(index, "")
            self.pool.release(participant, later)
            self._act(
                SendCancel,
                participant=participant,
                ref=later,
                reason=f"completed by placement {placement} on {stimulus.participant}",
            )
        return workflow, index

    def _completed(
        self, workflow: WorkflowRun, index: int, outputs: dict[str, object] | None
    ) -> None:
        self._settle(workflow, index, TS.TASK_STATE_COMPLETED)
        if outputs:
            workflow.outputs[index] = dict(outputs)
        for child in workflow.definition.dependents_of(index):
            workflow.waiting[child] -= 1
            if (
                workflow.waiting[child] == 0
                and workflow.task_state[child] == TS.TASK_STATE_PENDING
                and workflow.state == WS.WORKFLOW_STATE_RUNNING
            ):
                self._make_ready(workflow, child, new_attempt=True)

    # -- participants --------------------------------------------------------------------------

    def _joined(self, stimulus: ParticipantJoined) -> None:
        previous = self.pool.get(stimulus.name)
        view = ParticipantView(
            name=stimulus.name,
            group=stimulus.group,
            task_types=stimulus.task_types,
            capacity=max(1, stimulus.capacity),
            session=self.pool.new_session(),
        )
        self.pool.put(view)
        held = previous.load if previous is not None else set()
        for ref in sorted(stimulus.running):
            view.load.add(ref)  # it occupies a slot until its result arrives, live or not
            found = self._current(ref)
            if found is None or found[0].participant.get(found[1]) != view.name:
                # Superseded (re-placed, stopped or released) while it was away.
                self._act(SendCancel, participant=view.name, ref=ref, reason="superseded")
        # What it held but does not run may have been lost with the stream (or it finished and
        # the result is on its way): send it again; a participant ignores a task it runs and
        # answers one it finished with the result.
        for ref in sorted(held - stimulus.running):
            found = self._current(ref)
            if found is not None and found[0].participant.get(found[1]) == view.name:
                self._assign(found[0], found[1], view)

    def _disconnected(self, name: str) -> None:
        view = self.pool.get(name)
        if view is not None and view.connected:
            view.connected = False
            self._timer(
                PARTICIPANT_GRACE,
                (name, view.session),
                self.settings.participant_grace.total_seconds(),
            )

    def _lost(self, name: str, reason: str) -> None:
        view = self.pool.remove(name)
        if view is None:
            return
        message = f"participant {name} {reason}"
        for ref in sorted(view.load):
            found = self._current(ref)
            if found is None:
                continue
            workflow, index = found
            self._persist(workflow)
            if workflow.state == WS.WORKFLOW_STATE_CANCELING:
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, message)
                self._settle(workflow, index, TS.TASK_STATE_CANCELED)
                self._release(workflow, index)
                self._maybe_finish(workflow)
            elif workflow.replacements[index] >= self.settings.max_replacements:
                self._emit_task(workflow, index, TS.TASK_STATE_FAILED, message)
                self._attempt_failed(workflow, index, TS.TASK_STATE_FAILED, message)
                self._maybe_finish(workflow)
            else:
                workflow.replacements[index] += 1
                workflow.give_up(index)
                self._make_ready(workflow, index, new_attempt=False)

    # -- timers --------------------------------------------------------------------------------

    def _timer_fired(self, stimulus: TimerFired) -> None:
        key = stimulus.key
        if stimulus.kind == RETRY:
            self._retry_due(key[0], key[1], key[2])
        elif stimulus.kind == RESCHEDULE:
            found = self._task(key[0], key[1])
            if found is not None:
                workflow, index = found
                if workflow.ref(index) == key and workflow.task_state[index] == TS.TASK_STATE_READY:
                    workflow.due.pop(index, None)
                    self._persist(workflow)
                    if self._overdue(workflow, index):
                        self._time_out_waiting(workflow, index)
                    else:
                        self._enqueue(workflow, index)
        elif stimulus.kind == CANCEL_DEADLINE:
            self._cancel_deadline(key[0])
        elif stimulus.kind == TASK_DEADLINE:
            self._deadline_passed(key)
        elif stimulus.kind == PARTICIPANT_GRACE:
            view = self.pool.get(key[0])
            if view is not None and not view.connected and view.session == key[1]:
                self._lost(view.name, "did not come back")

    def _deadline_passed(self, ref: Ref) -> None:
        """The participant neither finished nor timed out the task: the controller times it out
        (a TIMED_OUT attempt) and tells the participant to stop it."""
        found = self._current(ref)
        if found is None or found[0].state != WS.WORKFLOW_STATE_RUNNING:
            return
        workflow, index = found
        message = "no result within the timeout; the controller timed the attempt out"
        participant = workflow.participant.get(index, "")
        self._act(SendCancel, participant=participant, ref=ref, reason=message)
        self._emit_task(workflow, index, TS.TASK_STATE_TIMED_OUT, message)
        self._persist(workflow)
        workflow.give_up(index)  # until its retry, a late COMPLETED of it is taken from its holder
        self._attempt_failed(workflow, index, TS.TASK_STATE_TIMED_OUT, message)
        self._maybe_finish(workflow)

    def _retry_due(self, workflow_id: str, task_id: str, failed_attempt: int) -> None:
        found = self._task(workflow_id, task_id)
        if found is None:
            return
        workflow, index = found
        if workflow.attempt[index] == failed_attempt and workflow.task_state[index] in (
            TS.TASK_STATE_FAILED,
            TS.TASK_STATE_TIMED_OUT,
        ):
            self._make_ready(workflow, index, new_attempt=True)
            self._persist(workflow)

    def _cancel_deadline(self, workflow_id: str) -> None:
        """Participants did not answer the cancel in time: CANCELED anyway."""
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.state != WS.WORKFLOW_STATE_CANCELING:
            return
        for index, final in enumerate(workflow.final):
            if not final:
                self._emit_task(workflow, index, TS.TASK_STATE_CANCELED, "no answer to cancel")
                self._settle(workflow, index, TS.TASK_STATE_CANCELED)
                self._release(workflow, index)
        self._persist(workflow)
        self._maybe_finish(workflow)

    def _task(self, workflow_id: str, task_id: str) -> tuple[WorkflowRun, int] | None:
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.state != WS.WORKFLOW_STATE_RUNNING:
            return None
        index = workflow.definition.index.get(task_id)
        if index is None or workflow.final[index]:
            return None
        return workflow, index

"""The legal task and workflow state transitions: every change the machine makes is checked
against these tables (`Steps._set`, `Steps._set_workflow`), as in dask/distributed's
worker state machine; anything else raises InvalidTransition with the stimulus that caused it.

A task starts PENDING and a workflow RUNNING (neither is a transition). A pair (s, s) listed
here is a change the machine makes on purpose without a new state: an assignment re-sent to a
reconnecting participant, a failed attempt settled as the task's outcome. docs/architecture.md
("Task and workflow state transitions") shows the same tables as a diagram.
"""

from __future__ import annotations

from helicase.common.states import TS, WS

_PLACED = (TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING)
_ENDED = (
    TS.TASK_STATE_COMPLETED,  # its result
    TS.TASK_STATE_FAILED,  # a failed attempt (retried while attempts remain), or participant lost
    TS.TASK_STATE_FATAL_FAILED,
    TS.TASK_STATE_TIMED_OUT,  # its result, or the controller's deadline
    TS.TASK_STATE_CANCELED,  # a cancel's answer, a fail-fast stop, or the cancel deadline
    TS.TASK_STATE_READY,  # RESCHEDULE, or its participant was lost: placed again
)
_WAITING_TO_RETRY = (
    TS.TASK_STATE_READY,  # the retry is due: a new attempt
    TS.TASK_STATE_COMPLETED,  # a COMPLETED result of the failed attempt came after all
    TS.TASK_STATE_CANCELED,  # its workflow was cancelled or stopped meanwhile
)

TASK_TRANSITIONS: dict[int, frozenset[int]] = {
    TS.TASK_STATE_PENDING: frozenset(
        {
            TS.TASK_STATE_READY,  # its dependencies COMPLETED (a root: at submission)
            TS.TASK_STATE_SKIPPED,  # a dependency failed (CONTINUE), or the workflow stopped
            TS.TASK_STATE_CANCELED,  # the workflow was cancelled
        }
    ),
    TS.TASK_STATE_READY: frozenset(
        {
            TS.TASK_STATE_ASSIGNED,  # placed on a participant
            TS.TASK_STATE_TIMED_OUT,  # the attempt's timeout passed while it waited to run again
            TS.TASK_STATE_COMPLETED,  # a COMPLETED result of a placement given up
            TS.TASK_STATE_SKIPPED,  # the workflow stopped before this attempt was placed
            TS.TASK_STATE_CANCELED,  # the workflow stopped or was cancelled
        }
    ),
    TS.TASK_STATE_ASSIGNED: frozenset(
        {
            TS.TASK_STATE_ASSIGNED,  # sent again to its participant after a reconnect
            TS.TASK_STATE_RUNNING,  # the participant started it
            *_ENDED,
        }
    ),
    TS.TASK_STATE_RUNNING: frozenset(_ENDED),
    TS.TASK_STATE_FAILED: frozenset({TS.TASK_STATE_FAILED, *_WAITING_TO_RETRY}),  # (s, s): settled
    TS.TASK_STATE_TIMED_OUT: frozenset({TS.TASK_STATE_TIMED_OUT, *_WAITING_TO_RETRY}),
    # Final: nothing leaves them.
    TS.TASK_STATE_COMPLETED: frozenset(),
    TS.TASK_STATE_FATAL_FAILED: frozenset(),
    TS.TASK_STATE_CANCELED: frozenset(),
    TS.TASK_STATE_SKIPPED: frozenset(),
}
"""Task state -> the states the machine may move it to."""

WORKFLOW_TRANSITIONS: dict[int, frozenset[int]] = {
    WS.WORKFLOW_STATE_RUNNING: frozenset(
        {
            WS.WORKFLOW_STATE_CANCELING,  # a cancel request: tasks in flight are told to stop
            WS.WORKFLOW_STATE_COMPLETED,  # every task COMPLETED
            WS.WORKFLOW_STATE_FAILED,  # a task failed for good (fail-fast at once, else at the end)
        }
    ),
    WS.WORKFLOW_STATE_CANCELING: frozenset({WS.WORKFLOW_STATE_CANCELED}),  # every task final
    WS.WORKFLOW_STATE_COMPLETED: frozenset(),
    WS.WORKFLOW_STATE_FAILED: frozenset(),
    WS.WORKFLOW_STATE_CANCELED: frozenset(),
}
"""Workflow state -> the states the machine may move it to."""


class InvalidTransition(Exception):
    """The machine tried a state change that the tables do not allow: a defect. The I/O shell
    resigns leadership rather than persist or send anything of the step."""

    def __init__(
        self, *, stimulus_id: str, workflow_id: str, task_id: str, start: int, finish: int
    ) -> None:
        self.stimulus_id = stimulus_id
        self.workflow_id = workflow_id
        self.task_id = task_id  # "" for a workflow's own state
        self.start = start
        self.finish = finish
        if task_id:
            what = f"task {workflow_id}/{task_id}"
            names = TS.Name(start), TS.Name(finish)  # type: ignore[arg-type]
        else:
            what = f"workflow {workflow_id}"
            names = WS.Name(start), WS.Name(finish)  # type: ignore[arg-type]
        super().__init__(
            f"{stimulus_id}: {what} {names[0]} -> {names[1]} is not a legal transition"
        )


def check_task(stimulus_id: str, workflow_id: str, task_id: str, start: int, finish: int) -> None:
    if finish not in TASK_TRANSITIONS.get(start, ()):
        raise InvalidTransition(
            stimulus_id=stimulus_id,
            workflow_id=workflow_id,
            task_id=task_id,
            start=start,
            finish=finish,
        )


def check_workflow(stimulus_id: str, workflow_id: str, start: int, finish: int) -> None:
    if finish not in WORKFLOW_TRANSITIONS.get(start, ()):
        raise InvalidTransition(
            stimulus_id=stimulus_id, workflow_id=workflow_id, task_id="", start=start, finish=finish
        )

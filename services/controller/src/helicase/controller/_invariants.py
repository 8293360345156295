"""What must hold of the machine's state after every step (`Steps.validate`).

Tests check it after every step they drive (`testing.Harness`); a leader checks it when
HELICASE_CONTROLLER_VALIDATE is set, and a violation there is a defect like an exception of the
machine: the leader resigns instead of persisting the step. O(tasks + dependencies) per check.
"""

from __future__ import annotations

from collections.abc import Iterable

from helicase.common.events import TASK_TERMINAL
from helicase.common.states import TS, WS
from helicase.controller._placement import Pool
from helicase.controller._retry import RetrySettings
from helicase.controller._workflow import WorkflowRun

# Final as soon as reached; FAILED and TIMED_OUT are final only once no attempt is left.
ALWAYS_FINAL = frozenset(
    {TS.TASK_STATE_COMPLETED, TS.TASK_STATE_FATAL_FAILED, TS.TASK_STATE_CANCELED,
     TS.TASK_STATE_SKIPPED}
)  # fmt: skip
# States only a task whose dependencies all COMPLETED can be in (SKIPPED and CANCELED can
# also be reached from PENDING).
STARTED = frozenset(
    {TS.TASK_STATE_READY, TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING, TS.TASK_STATE_COMPLETED,
     TS.TASK_STATE_FAILED, TS.TASK_STATE_FATAL_FAILED, TS.TASK_STATE_TIMED_OUT}
)  # fmt: skip
RETRYING = frozenset({TS.TASK_STATE_FAILED, TS.TASK_STATE_TIMED_OUT})


class InvalidState(Exception):
    """An invariant of the machine's state does not hold after a step: a defect."""


def validate(workflows: Iterable[WorkflowRun], pool: Pool, *, stimulus_id: str = "") -> None:
    problems: list[str] = []
    for workflow in workflows:
        problems += [f"workflow {workflow.id}: {p}" for p in _workflow_problems(workflow, pool)]
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidState(f"{stimulus_id}: {shown}{more}")


def _workflow_problems(workflow: WorkflowRun, pool: Pool) -> list[str]:
    problems: list[str] = []
    definition = workflow.definition
    unfinished = len(workflow.final) - sum(workflow.final)
    if workflow.unfinished != unfinished:
        problems.append(f"unfinished is {workflow.unfinished}, {unfinished} tasks are not final")
    if workflow.terminal and unfinished:
        problems.append(f"{WS.Name(workflow.state)} with {unfinished} tasks not final")  # type: ignore[arg-type]
    if not workflow.terminal and not unfinished and len(definition):
        problems.append(f"{WS.Name(workflow.state)} with every task final")  # type: ignore[arg-type]
    in_flight = {i for i in range(len(definition)) if workflow.in_flight(i)}
    if set(workflow.participant) != in_flight:
        recorded = sorted(workflow.participant)
        problems.append(f"participants recorded for {recorded}, in flight {sorted(in_flight)}")
    completed_deps = [0] * len(definition)
    for index, state in enumerate(workflow.task_state):
        if state == TS.TASK_STATE_COMPLETED:
            for child in definition.dependents_of(index):
                completed_deps[child] += 1
    for index, state in enumerate(workflow.task_state):
        task = f"task {definition.ids[index]} {TS.Name(state)}"  # type: ignore[arg-type]
        final = workflow.final[index]
        if final and state not in TASK_TERMINAL:
            problems.append(f"{task} is final")
        if not final and state in ALWAYS_FINAL:
            problems.append(f"{task} is not final")
        missing = definition.dep_counts[index] - completed_deps[index]
        if workflow.waiting[index] != missing:
            problems.append(f"{task} waits for {workflow.waiting[index]}, {missing} not COMPLETED")
        if state in STARTED and missing:
            problems.append(f"{task} with {missing} dependencies not COMPLETED")
        if state in STARTED and workflow.attempt[index] < 1:
            problems.append(f"{task} without an attempt")
        if workflow.attempt[index] > 1:  # one attempt is within every policy
            limit = RetrySettings.of(definition.task(index)).max_attempts
            if workflow.attempt[index] > limit:
                problems.append(f"{task} attempt {workflow.attempt[index]} of {limit}")
        if index in in_flight:
            name = workflow.participant[index]
            view = pool.get(name)
            if view is None or workflow.ref(index) not in view.load:
                problems.append(f"{task} holds no slot of its participant {name}")
        for placement, name in workflow.earlier.get(index, {}).items():
            live = workflow.placement[index]
            if final or not name or placement > live or (index in in_flight and placement == live):
                problems.append(f"{task} placement {placement} of {live} recorded as given up")
        running = workflow.state == WS.WORKFLOW_STATE_RUNNING
        if running and state in RETRYING and not final and index not in workflow.due:
            problems.append(f"{task} waits for a retry that is not due")
    return problems

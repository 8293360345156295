"""Driving a Machine by hand in tests and benchmarks: stimuli with fresh ids and a fake clock;
a machine with a planted defect for tests of failing hard (`PoisonedMachine`, which
`python -m helicase.controller.poisoned` runs in a real controller)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format

from helicase.common.states import TS
from helicase.controller._actions import Action, Assign, StartTimer
from helicase.controller._codec import decode, encode
from helicase.controller._dag import build
from helicase.controller._machine import Machine
from helicase.controller._steps import MachineSettings
from helicase.controller._stimuli import (
    CancelRequested,
    LeadershipTaken,
    ParticipantDisconnected,
    ParticipantJoined,
    ParticipantLost,
    Ref,
    TaskResultReceived,
    TaskStarted,
    TimerFired,
    WorkflowReleased,
    WorkflowSubmitted,
)
from helicase.v1 import workflow_pb2

DEFAULT_TYPES = frozenset({"noop", "shell", "sleep"})
POISON = "poison: a planted defect"


def definition(
    tasks: list[dict[str, Any]], *, workflow_id: str = "w1", **fields: Any
) -> workflow_pb2.Workflow:
    """A Workflow from proto3-JSON task dicts, e.g. [{"id": "a", "type": "noop"}]."""
    return json_format.ParseDict(
        {"id": workflow_id, **fields, "tasks": tasks}, workflow_pb2.Workflow()
    )


def assigns(actions: Iterable[Action]) -> list[Assign]:
    return [a for a in actions if isinstance(a, Assign)]


class Harness:
    """A Machine, a clock, and the timers it asked for."""

    def __init__(self, settings: MachineSettings | None = None, *, now: float = 1000.0) -> None:
        self.machine = Machine(source="controller/test", settings=settings)
        self.now = now
        self.timers: list[StartTimer] = []
        self._ids = itertools.count(1)

    def _sid(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def handle(self, stimulus: Any) -> list[Action]:
        """Feeds one stimulus, then checks the machine's invariants (`Machine.validate`)."""
        actions = self.machine.handle(stimulus)
        self.machine.validate()
        self.timers += [a for a in actions if isinstance(a, StartTimer)]
        return actions

    def join(
        self,
        name: str,
        capacity: int = 8,
        *,
        group: str = "default",
        types: Iterable[str] = DEFAULT_TYPES,
        running: Iterable[Ref] = (),
    ) -> list[Action]:
        return self.handle(
            ParticipantJoined(
                stimulus_id=self._sid("join"), now=self.now, name=name, group=group,
                task_types=frozenset(types), capacity=capacity, running=frozenset(running),
            )
        )  # fmt: skip

    def submit(
        self, tasks: list[dict[str, Any]], *, workflow_id: str = "w1", **fields: Any
    ) -> list[Action]:
        built = build(definition(tasks, workflow_id=workflow_id, **fields))
        return self.handle(
            WorkflowSubmitted(stimulus_id=self._sid("submit"), now=self.now, definition=built)
        )

    def started(self, ref: Ref) -> list[Action]:
        return self.handle(TaskStarted(stimulus_id=self._sid("started"), now=self.now, ref=ref))

    def result(
        self, assignment: Assign, outcome: int, *, participant: str | None = None, **fields: Any
    ) -> list[Action]:
        return self.handle(
            TaskResultReceived(
                stimulus_id=self._sid("result"), now=self.now,
                participant=participant or assignment.participant, ref=assignment.ref,
                outcome=outcome, **fields,
            )
        )  # fmt: skip

    def disconnect(self, name: str) -> list[Action]:
        return self.handle(
            ParticipantDisconnected(stimulus_id=self._sid("gone"), now=self.now, name=name)
        )

    def lose(self, name: str) -> list[Action]:
        return self.handle(ParticipantLost(stimulus_id=self._sid("lost"), now=self.now, name=name))

    def cancel(self, workflow_id: str = "w1", reason: str = "") -> list[Action]:
        return self.handle(
            CancelRequested(
                stimulus_id=self._sid("cancel"), now=self.now, workflow_id=workflow_id,
                reason=reason,
            )
        )  # fmt: skip

    def release(self, workflow_id: str = "w1") -> list[Action]:
        return self.handle(
            WorkflowReleased(
                stimulus_id=self._sid("release"), now=self.now, workflow_id=workflow_id
            )
        )

    def fire(self, timer: StartTimer) -> list[Action]:
        """Fires a timer (advancing the clock by its delay) and forgets it."""
        if timer in self.timers:
            self.timers.remove(timer)
        self.now += timer.delay
        return self.handle(
            TimerFired(stimulus_id=self._sid("timer"), now=self.now, kind=timer.kind, key=timer.key)
        )

    def fire_all(self, kind: str) -> list[Action]:
        out: list[Action] = []
        for timer in [t for t in self.timers if t.kind == kind]:
            out += self.fire(timer)
        return out

    def commit(self) -> dict[str, bytes]:
        """The workflows as a group commit would write them now (encoded)."""
        return {w.id: encode(w) for w in self.machine.workflows.values()}

    def fail_over(
        self, *, after: float = 0.0, stored: dict[str, bytes] | None = None
    ) -> list[Action]:
        """A new leader, `after` seconds later: a fresh machine takes over the workflows as they
        were persisted (through the codec): `stored`, what the last commit wrote, or else the
        machine's state as it is now. The old leader's timers die with it."""
        frames = self.commit() if stored is None else stored
        stored_runs = [decode(frame) for frame in frames.values()]
        self.machine = Machine(source="controller/test", settings=self.machine.settings)
        self.timers = []
        self.now += after
        return self.handle(
            LeadershipTaken(stimulus_id=self._sid("leader"), now=self.now, workflows=stored_runs)
        )

    def task_state(self, task_id: str, workflow_id: str = "w1") -> int:
        workflow = self.machine.workflows[workflow_id]
        return workflow.task_state[workflow.definition.index[task_id]]

    def state(self, workflow_id: str = "w1") -> int:
        return self.machine.workflows[workflow_id].state


class PoisonedMachine(Machine):
    """A machine with one planted defect: a cancel whose reason is POISON is applied as usual
    (the workflow CANCELING, its tasks in flight told to stop) and then moves the workflow's
    first task back to PENDING, which the transition table forbids. The step raises
    InvalidTransition half-applied, as a real defect would."""

    def _cancel(self, workflow_id: str, reason: str) -> None:
        super()._cancel(workflow_id, reason)
        workflow = self.workflows.get(workflow_id)
        if reason == POISON and workflow is not None:
            self._set(workflow, 0, TS.TASK_STATE_PENDING)

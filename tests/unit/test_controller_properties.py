"""Property tests: random interleavings of results (any outcome), participant joins, drops and
losses, timers, cancels, resubmits and leader failovers (a new machine takes over the persisted
state; the old leader's timers die with it) keep the controller's invariants, and every workflow
ends once results keep coming."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helicase.common.states import TS, WS
from helicase.controller import (
    HELD_UNTIL_DURABLE,
    TASK_TRANSITIONS,
    AckResult,
    Assign,
    Emit,
    Forget,
    Persist,
    TaskResultReceived,
    decode,
    encode,
    to_send,
)
from helicase.controller._retry import RetrySettings
from helicase.controller.testing import Harness
from helicase.internal.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome
OUTCOMES = [
    Outcome.TASK_OUTCOME_COMPLETED,
    Outcome.TASK_OUTCOME_COMPLETED,
    Outcome.TASK_OUTCOME_FAILED,
    Outcome.TASK_OUTCOME_FATAL_FAILED,
    Outcome.TASK_OUTCOME_TIMED_OUT,
    Outcome.TASK_OUTCOME_RESCHEDULE,
    Outcome.TASK_OUTCOME_CANCELED,
]
CAPACITY = {"p0": 2, "p1": 1, "p2": 3}
WORKFLOWS = ["w0", "w1", "w2"]
TERMINAL = {WS.WORKFLOW_STATE_COMPLETED, WS.WORKFLOW_STATE_FAILED, WS.WORKFLOW_STATE_CANCELED}


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(1, 7))
    tasks = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tasks.append(
            {
                "id": f"t{i}",
                "type": draw(st.sampled_from(["noop", "sleep"])),
                "dependsOn": [f"t{d}" for d in deps],
                "retry": {"maxAttempts": draw(st.integers(1, 3)), "initialBackoff": "0.5s"},
            }
        )
    return tasks


STEP = st.tuples(
    st.sampled_from(["result", "result", "result", "resend", "commit", "commit", "lose", "drop",
                     "join", "timer", "cancel", "submit", "failover", "start"]),
    st.integers(0, 10**6),
    st.sampled_from(OUTCOMES),
)  # fmt: skip


class World:
    """The machine, the I/O shell's group commit, and a model of what participants really run.

    As in `LeaderShell`, a commit writes the snapshots the steps' Persist actions carry, a step's
    stream messages go out (as `to_send` lets them) only once a commit made its state durable,
    and a new leader takes over what the commits wrote: a failover loses the uncommitted steps
    and their unsent messages (two failovers may come without a commit between).
    Participants keep their results until an acknowledgement names them and send them again
    whenever they like (as they do on every new stream)."""

    def __init__(self, dag_by_workflow: dict[str, list[dict[str, Any]]], policy: str) -> None:
        self.h = Harness()
        self.dags = dag_by_workflow
        self.policy = policy
        self.running: dict[tuple[Any, ...], str] = {}  # ref -> participant running it
        self.unacked: dict[tuple[Any, ...], tuple[str, int]] = {}  # ref -> (participant, outcome)
        self.stored: dict[str, bytes] = {}  # what the commits wrote
        self.unwritten: dict[str, Any] = {}  # Persist snapshots (None: Forget) since then
        self.held: list[Any] = []  # stream messages waiting for the next commit
        self.acked_completed: set[tuple[str, str]] = set()  # told: your COMPLETED is recorded
        self.completed: set[tuple[str, str]] = set()  # COMPLETED in a committed state
        self.terminal_state: dict[str, int] = {}  # terminal in a committed state
        self.fail_fast_stopped: set[str] = set()

    def apply(self, actions: list[Any]) -> None:
        machine = self.h.machine
        at_once = []  # stream messages the shell would not hold back
        for action in actions:
            if isinstance(action, Persist):
                self.unwritten[action.workflow_id] = action.snapshot
            elif isinstance(action, Forget):
                self.unwritten[action.workflow_id] = None
            if isinstance(action, HELD_UNTIL_DURABLE):
                self.held.append(action)
            elif isinstance(action, Assign | AckResult):
                at_once.append(action)
            if isinstance(action, Assign):
                assert action.ref[0] not in self.terminal_state, "assigned in a finished workflow"
                workflow = machine.workflows[action.ref[0]]
                index = workflow.definition.index[action.ref[1]]
                for dep in range(len(workflow.definition)):
                    if index in workflow.definition.dependents_of(dep):
                        assert workflow.task_state[dep] == TS.TASK_STATE_COMPLETED
            elif isinstance(action, Emit) and action.event.workflow_id in self.terminal_state:
                self.repeated(action.event)
        self.check()
        for action in at_once:
            if isinstance(action, Assign):
                self.assigned(action)
            else:
                self.acknowledged(action)

    def repeated(self, event: Any) -> None:
        """After its end a workflow's events may only repeat what was decided (a new leader
        publishes its final states again)."""
        workflow = self.h.machine.workflows[event.workflow_id]
        if event.HasField("workflow_event"):
            assert event.workflow_event.state == workflow.state, "event after the end"
        else:
            index = workflow.definition.index[event.task_event.task_id]
            assert workflow.final[index], "event after the end"
            assert event.task_event.state == workflow.task_state[index], "event after the end"

    def commit(self) -> None:
        """A group commit: the state becomes durable, then what waited for it goes out, in
        order, acknowledgements last, as `to_send` lets it (as `LeaderShell` sends them)."""
        written, self.unwritten = self.unwritten, {}
        for workflow_id, snapshot in written.items():
            if snapshot is None:
                self.stored.pop(workflow_id, None)
            else:
                self.stored[workflow_id] = encode(snapshot)
        self.check_written()
        for workflow in self.h.machine.workflows.values():
            for index, state in enumerate(workflow.task_state):
                if state == TS.TASK_STATE_COMPLETED:
                    self.completed.add((workflow.id, workflow.definition.ids[index]))
            if workflow.state in TERMINAL and workflow.id not in self.terminal_state:
                self.terminal_state[workflow.id] = workflow.state
                assert all(workflow.final), "a finished workflow with unfinished tasks"
            if workflow.state == WS.WORKFLOW_STATE_FAILED and self.policy.endswith("FAIL_FAST"):
                self.fail_fast_stopped.add(workflow.id)
        held, self.held = self.held, []
        for action in to_send(held):
            if isinstance(action, Assign):
                self.assigned(action)
            elif isinstance(action, AckResult):
                self.acknowledged(action)

    def check_written(self) -> None:
        """What the commits wrote is the machine's state: every change has its Persist, except
        a task's start (ASSIGNED -> RUNNING), which is not worth a write of its own: both are in
        flight to a new leader."""

        def as_stored(frame: bytes) -> bytes:
            run = decode(frame)
            for index, state in enumerate(run.task_state):
                if state == TS.TASK_STATE_RUNNING:
                    run.task_state[index] = TS.TASK_STATE_ASSIGNED
            return encode(run)

        now = {key: as_stored(frame) for key, frame in self.h.commit().items()}
        assert {key: as_stored(frame) for key, frame in self.stored.items()} == now, (
            "a change without its Persist"
        )

    def assigned(self, action: Assign) -> None:
        """A participant receives an assignment: it runs it, or sends the result it holds."""
        task = (action.ref[0], action.ref[1])
        assert task not in self.acked_completed, "acknowledged COMPLETED, assigned again"
        assert task not in self.completed, "COMPLETED re-run"
        if action.ref in self.unacked:
            participant, outcome = self.unacked[action.ref]
            self._send(action.ref, participant, outcome, 0)
        else:
            self.running[action.ref] = action.participant

    def acknowledged(self, ack: AckResult) -> None:
        held = self.unacked.get(ack.ref)
        if held is None or held[0] != ack.participant:
            return
        del self.unacked[ack.ref]
        if ack.taken and held[1] == Outcome.TASK_OUTCOME_COMPLETED:
            self.acked_completed.add((ack.ref[0], ack.ref[1]))

    def check(self) -> None:
        machine = self.h.machine
        for step in machine.transitions:  # `_set` checks each; the log shows they were checked
            assert step.finish in TASK_TRANSITIONS[step.start], step
        per_participant: dict[str, int] = {}
        for workflow in machine.workflows.values():
            assert workflow.unfinished == len(workflow.final) - sum(workflow.final)
            for index in range(len(workflow.definition)):
                limit = RetrySettings.of(workflow.definition.task(index)).max_attempts
                assert workflow.attempt[index] <= limit, "more attempts than the policy allows"
            for index, state in enumerate(workflow.task_state):
                if state in (TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING):
                    name = workflow.participant[index]
                    per_participant[name] = per_participant.get(name, 0) + 1
            if workflow.id in self.terminal_state:
                assert workflow.state == self.terminal_state[workflow.id], "terminal changed"
            if workflow.id in self.fail_fast_stopped:
                for state in workflow.task_state:
                    assert state not in (
                        TS.TASK_STATE_READY, TS.TASK_STATE_ASSIGNED, TS.TASK_STATE_RUNNING,
                        TS.TASK_STATE_PENDING,
                    )  # fmt: skip
        for name, count in per_participant.items():
            assert count <= CAPACITY[name], f"{name} over capacity"

    def submit(self, workflow_id: str) -> None:
        known = workflow_id in self.h.machine.workflows
        actions = self.h.submit(
            self.dags[workflow_id], workflow_id=workflow_id, failurePolicy=self.policy
        )
        if known:
            assert actions == [], "a repeated submit must change nothing"
        self.apply(actions)

    def _send(self, ref: tuple[Any, ...], participant: str, outcome: int, pick: int) -> None:
        self.apply(
            self.h.handle(
                TaskResultReceived(
                    stimulus_id=f"r{pick}", now=self.h.now, participant=participant, ref=ref,
                    outcome=outcome, reschedule_after=1.0, outputs={"x": 1} if outcome == 1 else None,  # noqa: E501
                )
            )
        )  # fmt: skip

    def deliver(self, pick: int, outcome: int) -> None:
        """A running task ends with `outcome`; its participant reports it."""
        ref = sorted(self.running)[pick % len(self.running)]
        participant = self.running.pop(ref)
        self.unacked[ref] = (participant, outcome)
        self._send(ref, participant, outcome, pick)

    def resend(self, pick: int) -> None:
        """A participant sends a result again (it has no acknowledgement for it yet)."""
        ref = sorted(self.unacked)[pick % len(self.unacked)]
        participant, outcome = self.unacked[ref]
        self._send(ref, participant, outcome, pick)

    def join(self, name: str) -> None:
        mine = [ref for ref, owner in self.running.items() if owner == name]
        self.apply(self.h.join(name, CAPACITY[name], types={"noop", "sleep"}, running=mine))

    def step(self, kind: str, pick: int, outcome: int) -> None:
        self.h.now += 0.25
        name = f"p{pick % 3}"
        if kind == "result" and self.running:
            self.deliver(pick, outcome)
        elif kind == "resend" and self.unacked:
            self.resend(pick)
        elif kind == "start" and self.running:  # a participant reports it started a task
            self.apply(self.h.started(sorted(self.running)[pick % len(self.running)]))
        elif kind == "commit":
            self.commit()
        elif kind == "lose":  # the process died: what it ran and its results are gone
            self.running = {r: p for r, p in self.running.items() if p != name}
            self.unacked = {r: v for r, v in self.unacked.items() if v[0] != name}
            self.apply(self.h.lose(name))
        elif kind == "drop":  # the stream broke; the process lives on
            self.apply(self.h.disconnect(name))
        elif kind == "join":
            self.join(name)
        elif kind == "timer" and self.h.timers:
            self.apply(self.h.fire(self.h.timers[pick % len(self.h.timers)]))
        elif kind == "cancel" and pick % 5 == 0:
            self.apply(self.h.cancel(WORKFLOWS[pick % 3]))
        elif kind == "submit":
            self.submit(WORKFLOWS[pick % 3])
        elif kind == "failover":  # uncommitted steps and unsent acks die with the leader
            self.held, self.unwritten = [], {}
            self.apply(self.h.fail_over(after=pick % 7, stored=self.stored))

    def drain(self) -> None:
        """Participants come back and answer everything: every workflow must end."""
        for name in CAPACITY:
            self.join(name)
        for workflow_id in WORKFLOWS:
            self.submit(workflow_id)
        for _ in range(2000):
            self.commit()
            if all(w.terminal for w in self.h.machine.workflows.values()):
                return
            if self.running:
                self.deliver(0, Outcome.TASK_OUTCOME_COMPLETED)
            elif self.unacked:
                self.resend(0)
            elif self.h.timers:
                self.apply(self.h.fire(min(self.h.timers, key=lambda t: t.delay)))
            else:
                break
        stuck = {
            w.id: [(w.definition.ids[i], s) for i, s in enumerate(w.task_state)]
            for w in self.h.machine.workflows.values()
            if not w.terminal
        }
        raise AssertionError(f"workflows never ended: {stuck}")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries({w: dags() for w in WORKFLOWS}),
    st.lists(STEP, max_size=80),
    st.sampled_from(["FAILURE_POLICY_FAIL_FAST", "FAILURE_POLICY_CONTINUE"]),
)
def test_invariants_hold_and_every_workflow_ends(
    dag_by_workflow: dict[str, list[dict[str, Any]]],
    script: list[tuple[str, int, int]],
    policy: str,
) -> None:
    world = World(dag_by_workflow, policy)
    world.join("p0")
    world.submit("w0")
    for kind, pick, outcome in script:
        world.step(kind, pick, outcome)
        for workflow in world.h.machine.workflows.values():  # state survives the codec as is
            if pick % 17 == 0:
                again = decode(encode(workflow))
                assert again.task_state == workflow.task_state
                assert again.unfinished == workflow.unfinished
                assert list(again.waiting) == list(workflow.waiting)
    world.drain()
    for workflow_id, state in world.terminal_state.items():
        assert world.h.cancel(workflow_id) == []
        assert world.h.machine.workflows[workflow_id].state == state


def test_fatal_under_fail_fast_leaves_nothing_ready_or_newly_assigned() -> None:
    world = World(
        {"w0": [{"id": f"t{i}", "type": "noop"} for i in range(6)]}, "FAILURE_POLICY_FAIL_FAST"
    )
    world.join("p0")  # capacity 2: four tasks wait READY
    world.submit("w0")
    world.commit()
    world.deliver(0, Outcome.TASK_OUTCOME_FATAL_FAILED)
    world.commit()
    still_running = set(world.running)  # told to stop
    world.join("p2")  # free slots, yet nothing is placed
    world.commit()
    workflow = world.h.machine.workflows["w0"]
    assert workflow.state == WS.WORKFLOW_STATE_FAILED
    assert set(world.running) == still_running
    assert not world.h.timers
    assert sorted(workflow.task_state) == sorted(
        [TS.TASK_STATE_FATAL_FAILED, TS.TASK_STATE_CANCELED] + [TS.TASK_STATE_SKIPPED] * 4
    )


def test_a_completed_task_is_not_run_again_by_a_placement_cancelled_before_its_commit() -> None:
    """After a failover the task is placed again (held until the commit); the old placement's
    COMPLETED arrives before that commit and cancels the new placement. The commit sends
    neither the withdrawn assignment nor lets the task run a second time."""
    one_task = [{"id": "t0", "type": "noop", "retry": {"maxAttempts": 1}}]
    world = World(dict.fromkeys(WORKFLOWS, one_task), "FAILURE_POLICY_FAIL_FAST")
    world.join("p0")
    world.submit("w0")
    world.commit()
    world.step("failover", 1, 0)  # p0 is not back within the grace period: t0 is re-placed
    world.step("timer", 0, 0)
    world.join("p1")
    world.deliver(0, Outcome.TASK_OUTCOME_COMPLETED)  # p0's result of the first placement
    world.drain()
    assert world.h.task_state("t0", "w0") == TS.TASK_STATE_COMPLETED
    assert world.running == {}

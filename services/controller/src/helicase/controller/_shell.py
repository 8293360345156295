"""The leader's I/O shell around the pure machine.

One asyncio task feeds stimuli to the machine, one at a time, and carries out its actions:
assignments, cancellations and acknowledgements go to per-participant stream queues, events to
Kafka (not awaited), timers to `loop.call_later`, and the workflows' snapshots to the group
commit, which writes them to ZooKeeper in fenced transactions. Stream messages (assignments,
cancellations, acknowledgements), events and SubmitWorkflow answers wait for the write that
made their state durable (see `_actions`): everything of the steps since the last commit is one
`_Batch`.

Fail hard: an exception of the machine (an InvalidTransition, a failed `validate()` when
HELICASE_CONTROLLER_VALIDATE is set, or any other) leaves its state half-applied. The shell then
resigns leadership at once, as when it is fenced: nothing of that step is persisted, nothing of
the steps since the last commit is sent, published or answered (a write already under way holds
whole earlier steps only), and the next leader (the standby, or this process again after the
election) starts from the last durable state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.kafka import AsyncProducer
from helicase.common.states import TS, WS
from helicase.controller import _codec, _metrics
from helicase.controller._actions import (
    HELD_UNTIL_DURABLE,
    AckResult,
    Action,
    Assign,
    Emit,
    Forget,
    Persist,
    SendCancel,
    StartTimer,
    WorkflowStatusChanged,
    to_send,
)
from helicase.controller._machine import Machine
from helicase.controller._publisher import Publisher
from helicase.controller._stimuli import (
    AnyStimulus,
    ParticipantDisconnected,
    Ref,
    TimerFired,
)
from helicase.controller._store import Fenced, StateStore
from helicase.controller._workflow import WorkflowRun
from helicase.internal.v1 import controller_pb2, participant_pb2

log = logging.getLogger(__name__)
Reply = participant_pb2.ConnectResponse
Status = controller_pb2.WorkflowStatus


def task_ref(ref: Ref) -> participant_pb2.TaskRef:
    return participant_pb2.TaskRef(
        workflow_id=ref[0], task_id=ref[1], attempt=ref[2], placement=ref[3]
    )


def new_stimulus_id(kind: str) -> str:
    return f"{kind}-{time.time_ns()}"


@dataclass
class _Batch:
    """What waits for the next group commit: the states to write, then what goes out once they
    are durable. A leader's decisions are published only then, so a deposed leader's
    unpersisted decisions never reach PostgreSQL."""

    # Workflow id -> its latest snapshot (None: delete the workflow).
    writes: dict[str, WorkflowRun | None] = field(default_factory=dict)
    # Assignments, cancels, acknowledgements and watchers' status changes, in the order the
    # machine made them (HELD_UNTIL_DURABLE; what goes out is `to_send(held)`).
    held: list[Action] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)  # call()s to answer

    def then(self, later: _Batch) -> _Batch:
        """This batch, not written, followed by `later`: a later snapshot supersedes."""
        return _Batch(
            writes={**self.writes, **later.writes},
            held=self.held + later.held,
            events=self.events + later.events,
            waiters=self.waiters + later.waiters,
        )


class LeaderShell:
    """The leader's I/O shell around its machine: everything the leader runs, discarded when
    leadership ends."""

    def __init__(
        self,
        *,
        machine: Machine,
        store: StateStore,
        producer: AsyncProducer,
        epoch: int,
        flush_interval: float,
        resign: Callable[[], None],
        workflow_producer: AsyncProducer | None = None,
        validate: bool = False,
    ) -> None:
        """`resign`: give up leadership (called when fenced or when the machine failed);
        `validate`: check the machine's invariants after every step."""
        self.machine = machine
        self.epoch = epoch
        self._store = store
        self._publisher = Publisher(producer, workflow_producer)
        self._flush_interval = flush_interval
        self._resign = resign
        self._validate = validate
        self.failed = False  # the machine failed: this shell resigned
        self._inbox: asyncio.Queue[tuple[AnyStimulus, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self._streams: dict[str, asyncio.Queue[Reply | None]] = {}
        self._watchers: dict[str, set[asyncio.Queue[Status | None]]] = defaultdict(set)
        self._pending = _Batch()
        self._wake_flusher = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        # W3C trace context of each workflow's submission (kept in memory, not across failovers).
        self.trace_context: dict[str, dict[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._finished_seen: Counter[int] = Counter()  # machine.finished already counted

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="controller-machine"),
            asyncio.create_task(self._flusher(), name="controller-flusher"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for handle in self._timers:
            handle.cancel()
        for queue in self._streams.values():
            queue.put_nowait(None)
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.put_nowait(None)
        waiters = list(self._pending.waiters)
        while not self._inbox.empty():  # calls the machine never took
            _, done = self._inbox.get_nowait()
            if done is not None:
                waiters.append(done)
        _fail(waiters)

    # -- inputs --------------------------------------------------------------------------------

    def put(self, stimulus: AnyStimulus) -> None:
        self._inbox.put_nowait((stimulus, None))

    async def call(self, stimulus: AnyStimulus) -> None:
        """Feeds a stimulus and returns once the state it left (and all before it) is durable."""
        if self.failed:
            raise ConnectionError("leadership lost")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait((stimulus, done))
        await done

    def attach(self, name: str) -> asyncio.Queue[Reply | None]:
        """A participant's stream opened; an older stream of the same name is closed."""
        old = self._streams.get(name)
        if old is not None:
            old.put_nowait(None)
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        self._streams[name] = queue
        return queue

    def detach(self, name: str, queue: asyncio.Queue[Reply | None]) -> None:
        """A participant's stream ended (unless a newer stream replaced it)."""
        if self._streams.get(name) is queue:
            del self._streams[name]
            self.put(
                ParticipantDisconnected(
                    stimulus_id=new_stimulus_id(f"disconnected-{name}"), now=time.time(), name=name
                )
            )

    def connected(self, name: str) -> bool:
        return name in self._streams

    def watch(self, workflow_id: str) -> asyncio.Queue[Status | None]:
        queue: asyncio.Queue[Status | None] = asyncio.Queue()
        self._watchers[workflow_id].add(queue)
        return queue

    def unwatch(self, workflow_id: str, queue: asyncio.Queue[Status | None]) -> None:
        watchers = self._watchers.get(workflow_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[workflow_id]

    # -- the machine loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            stimulus, done = await self._inbox.get()
            if done is not None:
                self._pending.waiters.append(done)
            try:
                actions = self.machine.handle(stimulus)
                if self._validate:
                    self.machine.validate()
                self._execute(actions)
            except Exception:
                log.exception(
                    "the machine failed; resigning leadership",
                    extra={"stimulus_id": stimulus.stimulus_id},
                )
                self._fail_hard()
                return
            if done is not None:
                self._wake_flusher.set()

    def _fail_hard(self) -> None:
        """Stops the group commit before it takes anything more (a write under way finishes:
        it holds only whole steps, and its messages are not sent), fails the waiting calls at
        once (the election may be waiting for one: the takeover) and resigns; `stop()` fails
        those of a write that was under way."""
        self.failed = True
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        waiters, self._pending.waiters = self._pending.waiters, []
        _fail(waiters)
        self._resign()

    def _send(self, participant: str, message: Reply) -> None:
        queue = self._streams.get(participant)
        if queue is not None:
            queue.put_nowait(message)

    def _deliver(self, action: Action) -> None:
        """Carries out a held action once its step's state is durable (acknowledgements are
        gathered per participant: `_send_acks`)."""
        match action:
            case Assign():
                assignment = participant_pb2.Assignment(task=task_ref(action.ref), type=action.type)
                _metrics.TASKS_PLACED.labels(action.type).inc()
                if action.waited is not None:
                    _metrics.DISPATCH_SECONDS.observe(action.waited)
                trace_context = self.trace_context.get(action.ref[0])
                if trace_context:
                    assignment.trace_context.update(trace_context)
                assignment.params.update(action.params)
                if action.timeout:
                    assignment.timeout.FromNanoseconds(int(action.timeout * 1e9))
                self._send(action.participant, Reply(assignment=assignment))
            case SendCancel():
                cancel = participant_pb2.CancelTask(task=task_ref(action.ref), reason=action.reason)
                self._send(action.participant, Reply(cancel=cancel))
            case WorkflowStatusChanged():
                self._notify(action.status)

    def _notify(self, status: Status) -> None:
        _observe_status(status)
        for watcher in self._watchers.get(status.workflow_id, ()):
            watcher.put_nowait(status)

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, HELD_UNTIL_DURABLE):
                self._pending.held.append(action)
                self._wake_flusher.set()
                continue
            match action:
                case Emit():
                    self._pending.events.append(action)
                    self._wake_flusher.set()
                case StartTimer():
                    self._start_timer(action)
                case Persist():
                    self._pending.writes[action.workflow_id] = action.snapshot
                    self._wake_flusher.set()
                case Forget():
                    self.trace_context.pop(action.workflow_id, None)
                    self._pending.writes[action.workflow_id] = None
                    self._wake_flusher.set()

    def _start_timer(self, timer: StartTimer) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self.put(
                TimerFired(
                    stimulus_id=new_stimulus_id(f"timer-{timer.kind}"),
                    now=time.time(),
                    kind=timer.kind,
                    key=timer.key,
                )
            )

        handle = asyncio.get_running_loop().call_later(timer.delay, fire)
        self._timers.add(handle)

    # -- group commit --------------------------------------------------------------------------

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        last_write = 0.0
        while True:
            await self._wake_flusher.wait()
            # Idle for a window: write at once. Busy: gather a window's changes first.
            pause = last_write + self._flush_interval - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            self._wake_flusher.clear()
            batch, self._pending = self._pending, _Batch()
            try:
                await self._commit(batch)
            except asyncio.CancelledError:  # stopping: stop() fails the batch's waiters
                self._pending = batch.then(self._pending)
                raise
            except Fenced:
                log.error("fenced: a newer leader exists; stepping down")
                _fail(batch.waiters + self._pending.waiters)
                self._pending.waiters = []
                self._resign()
                return
            except Exception:
                log.exception("state write failed; retrying")
                self._pending = batch.then(self._pending)
                self._wake_flusher.set()
                await asyncio.sleep(0.2)
                continue
            finally:
                last_write = loop.time()
            self._release(batch)

    async def _commit(self, batch: _Batch) -> None:
        """Makes the batch's states durable (encoded off the loop: they are snapshots)."""
        if batch.writes:
            seconds = await asyncio.to_thread(self._write, batch.writes)
            _metrics.COMMIT_SECONDS.observe(seconds)
        self._observe_finished()
        _metrics.READY_QUEUE.set(len(self.machine.ready))
        _metrics.WORKFLOWS.set(len(self.machine.workflows))

    def _write(self, writes: dict[str, WorkflowRun | None]) -> float:
        """Encodes and writes the snapshots; the seconds the write took."""
        states = {key: None if run is None else _codec.encode(run) for key, run in writes.items()}
        started = time.perf_counter()
        self._store.write(self.epoch, states)
        return time.perf_counter() - started

    def _release(self, batch: _Batch) -> None:
        """Its state is durable: publishes its events, sends what `to_send` lets out of its
        held actions (acknowledgements last, gathered per participant) and answers its calls."""
        for emit in batch.events:
            event = emit.event
            if event.HasField("workflow_event"):
                self._publisher.workflow_event(event.workflow_id, event.SerializeToString())
            else:
                self._publisher.task_event(event.workflow_id, event.SerializeToString())
        sendable = to_send(batch.held)
        for action in sendable:
            self._deliver(action)
        self._send_acks([a for a in sendable if isinstance(a, AckResult)])
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _observe_finished(self) -> None:
        for state, count in self.machine.finished.items():
            new = count - self._finished_seen[state]
            if new > 0:
                name = TS.Name(state).removeprefix("TASK_STATE_")  # type: ignore[arg-type]
                _metrics.TASKS_FINISHED.labels(name).inc(new)
                self._finished_seen[state] = count

    def _send_acks(self, acks: list[AckResult]) -> None:
        by_participant: dict[str, participant_pb2.ResultAck] = defaultdict(
            participant_pb2.ResultAck
        )
        for action in acks:
            ack = by_participant[action.participant]
            (ack.tasks if action.taken else ack.superseded).append(task_ref(action.ref))
        for participant, ack in by_participant.items():
            self._send(participant, Reply(ack=ack))


def _fail(waiters: list[asyncio.Future[None]]) -> None:
    """Leadership is lost: the callers retry on the next leader."""
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(ConnectionError("leadership lost"))


def _observe_status(status: controller_pb2.WorkflowStatus) -> None:
    if status.state in WORKFLOW_TERMINAL and status.HasField("start_time"):
        seconds = (status.end_time.ToNanoseconds() - status.start_time.ToNanoseconds()) / 1e9
        name = WS.Name(status.state).removeprefix("WORKFLOW_STATE_")
        _metrics.WORKFLOW_SECONDS.labels(name).observe(max(0.0, seconds))

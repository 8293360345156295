"""The I/O around the machine while this controller leads: one loop feeds stimuli to the
machine and carries out its actions (streams, Kafka, timers, fenced ZooKeeper writes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from helicase.common import topics
from helicase.common.kafka import AsyncProducer
from helicase.controller import _codec
from helicase.controller._machine import Machine
from helicase.controller._model import (
    AckResult,
    Action,
    Assign,
    Emit,
    Forget,
    Key,
    ParticipantLost,
    Persist,
    SendCancel,
    StartTimer,
    StatusChanged,
    Stimulus,
    TimerFired,
    WorkflowRun,
)
from helicase.controller._store import Fenced, StateStore
from helicase.v1 import controller_pb2, participant_pb2

log = logging.getLogger(__name__)
Reply = participant_pb2.ConnectResponse


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


def ref(key: Key) -> participant_pb2.TaskRef:
    return participant_pb2.TaskRef(
        workflow_id=key[0], task_id=key[1], attempt=key[2], placement=key[3]
    )


class Core:
    """Everything the leader runs; discarded when leadership ends."""

    def __init__(
        self,
        *,
        machine: Machine,
        store: StateStore,
        producer: AsyncProducer,
        epoch: int,
        participant_grace: float,
        flush_interval: float,
        on_fenced: Any,
    ) -> None:
        self.machine = machine
        self.epoch = epoch
        self._store = store
        self._producer = producer
        self._grace = participant_grace
        self._flush_interval = flush_interval
        self._on_fenced = on_fenced
        self._inbox: asyncio.Queue[tuple[Stimulus, asyncio.Future[None] | None]] = asyncio.Queue()
        self._streams: dict[str, asyncio.Queue[Reply | None]] = {}
        self._watchers: dict[str, set[asyncio.Queue[controller_pb2.WorkflowStatus | None]]] = (
            defaultdict(set)
        )
        self._dirty: dict[str, bool] = {}  # workflow id -> forget?
        self._after_flush: list[tuple[str, Key]] = []
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._dirty_event = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="controller-loop"),
            asyncio.create_task(self._flusher(), name="controller-flusher"),
        ]
        self.start_timer("recovery", (), self._grace)

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
        for waiter in self._flush_waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionError("leadership lost"))

    # -- inputs ------------------------------------------------------------------------------

    def put(self, stimulus: Stimulus) -> None:
        self._inbox.put_nowait((stimulus, None))

    async def call(self, stimulus: Stimulus) -> None:
        """Feeds a stimulus and waits until the state it produced is durable."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait((stimulus, done))
        await done

    def start_timer(self, name: str, key: tuple[Any, ...], delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            stimulus_id = f"timer-{name}-{time.time_ns()}"
            self.put(TimerFired(stimulus_id=stimulus_id, now=time.time(), kind=name, key=key))

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def attach(self, name: str) -> asyncio.Queue[Reply | None]:
        """A participant's stream opened; an older stream of the same name is closed."""
        old = self._streams.get(name)
        if old is not None:
            old.put_nowait(None)
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        self._streams[name] = queue
        return queue

    def detach(self, name: str, queue: asyncio.Queue[Reply | None]) -> None:
        """A participant's stream ended; it is lost unless it is back within the grace period."""
        if self._streams.get(name) is not queue:
            return
        del self._streams[name]

        def check() -> None:
            if name not in self._streams:
                self.put(ParticipantLost(stimulus_id=f"grace-{name}-{time.time_ns()}",
                                         now=time.time(), name=name))  # fmt: skip

        self._timers.add(asyncio.get_running_loop().call_later(self._grace, check))

    def connected(self) -> set[str]:
        return set(self._streams)

    def watch(self, workflow_id: str) -> asyncio.Queue[controller_pb2.WorkflowStatus | None]:
        queue: asyncio.Queue[controller_pb2.WorkflowStatus | None] = asyncio.Queue()
        self._watchers[workflow_id].add(queue)
        return queue

    def unwatch(self, workflow_id: str, queue: asyncio.Queue[Any]) -> None:
        self._watchers[workflow_id].discard(queue)
        if not self._watchers[workflow_id]:
            del self._watchers[workflow_id]

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            stimulus, done = await self._inbox.get()
            try:
                actions = self.machine.handle(stimulus)
            except Exception:
                log.exception("stimulus failed", extra={"stimulus_id": stimulus.stimulus_id})
                actions = []
            durable = self._execute(actions)
            if done is not None:
                if durable:
                    self._flush_waiters.append(done)
                else:
                    done.set_result(None)

    def _send(self, participant: str, message: Reply) -> None:
        queue = self._streams.get(participant)
        if queue is not None:
            queue.put_nowait(message)

    def _execute(self, actions: list[Action]) -> bool:
        durable = False
        for action in actions:
            match action:
                case Assign():
                    assignment = participant_pb2.Assignment(
                        task=ref(action.key), type=action.type, params=action.params
                    )
                    if action.timeout:
                        assignment.timeout.FromNanoseconds(int(action.timeout * 1e9))
                    self._send(action.participant, Reply(assignment=assignment))
                case SendCancel():
                    cancel = participant_pb2.CancelTask(task=ref(action.key), reason=action.reason)
                    self._send(action.participant, Reply(cancel=cancel))
                case Emit():
                    event = action.event
                    sent = self._producer.send_nowait(
                        topics.EVENTS, event.workflow_id, event.SerializeToString()
                    )
                    sent.add_done_callback(_log_failure)
                case StartTimer():
                    self.start_timer(action.kind, action.key, action.delay)
                case Persist():
                    self._dirty.setdefault(action.workflow_id, False)
                    durable = True
                case Forget():
                    self._dirty[action.workflow_id] = True
                    durable = True
                case AckResult():
                    self._after_flush.append((action.participant, action.key))
                    durable = True
                case StatusChanged():
                    self._notify(action.workflow_id)
        if durable:
            self._dirty_event.set()
        return durable

    def _notify(self, workflow_id: str) -> None:
        workflow = self.machine.workflows.get(workflow_id)
        for watcher in self._watchers.get(workflow_id, ()):
            watcher.put_nowait(status_of(workflow) if workflow is not None else None)

    # -- group commit ------------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            await self._dirty_event.wait()
            await asyncio.sleep(self._flush_interval)
            self._dirty_event.clear()
            dirty, self._dirty = self._dirty, {}
            acks, self._after_flush = self._after_flush, []
            waiters, self._flush_waiters = self._flush_waiters, []
            states: dict[str, bytes | None] = {}
            for workflow_id, forget in dirty.items():
                workflow = self.machine.workflows.get(workflow_id)
                states[workflow_id] = (
                    None if forget or workflow is None else _codec.encode(workflow)
                )
            try:
                await asyncio.to_thread(self._store.write, self.epoch, states)
            except Fenced:
                log.error("fenced: a newer leader exists; stepping down")
                self._on_fenced()
                return
            except Exception:
                log.exception("state write failed; retrying")
                for workflow_id, forget in dirty.items():
                    self._dirty[workflow_id] = self._dirty.get(workflow_id, False) or forget
                self._after_flush = acks + self._after_flush
                self._flush_waiters = waiters + self._flush_waiters
                self._dirty_event.set()
                await asyncio.sleep(0.2)
                continue
            by_participant: dict[str, list[participant_pb2.TaskRef]] = defaultdict(list)
            for participant, key in acks:
                by_participant[participant].append(ref(key))
            for participant, refs in by_participant.items():
                self._send(participant, Reply(ack=participant_pb2.ResultAck(tasks=refs)))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("event not published", extra={"error": repr(future.exception())})

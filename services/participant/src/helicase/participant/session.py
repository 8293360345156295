"""The participant's life: one Connect stream to the current leader, running what it assigns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from helicase.common import events, tls, topics, tracing
from helicase.common.batching import take_queued
from helicase.common.kafka import AsyncProducer
from helicase.common.leader import LeaderWatch
from helicase.internal.v1 import participant_pb2, participant_pb2_grpc
from helicase.participant import metrics
from helicase.participant.observers import TaskEvent, TaskEventKind, TaskObserver, installed, notify
from helicase.participant.processes import TaskUser
from helicase.participant.results import Key, Unacked, key_of
from helicase.participant.runner import RunResult, run_task
from helicase.participant.sdk import RUNNING_TASK, TaskContext, TaskType, default_task_user
from helicase.v1 import workflow_pb2

log = logging.getLogger(__name__)
Outcome = participant_pb2.TaskOutcome


@dataclass
class _Running:
    """A task this participant runs; `run` is the user code's asyncio task once it started."""

    ref: participant_pb2.TaskRef
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    run: asyncio.Task[RunResult] | None = None
    worker: asyncio.Task[None] | None = None


def hello(
    *,
    name: str,
    group: str,
    capacity: int,
    task_types: list[TaskType],
    running: list[participant_pb2.TaskRef],
) -> participant_pb2.ConnectRequest:
    specs = []
    for task_type in task_types:
        schema = struct_pb2.Struct()
        schema.update(task_type.schema)
        specs.append(
            participant_pb2.TaskTypeSpec(
                name=task_type.name, description=task_type.description, params_schema=schema
            )
        )
    return participant_pb2.ConnectRequest(
        hello=participant_pb2.Hello(
            name=name, instance_group=group, task_types=specs, capacity=capacity, running=running
        )
    )


class Participant:
    """Keeps the stream to the leader and runs assignments; results wait in `Unacked` until the
    controller acknowledges them, and are re-sent on every new stream."""

    def __init__(
        self,
        *,
        name: str,
        group: str,
        capacity: int,
        task_types: dict[str, TaskType],
        leader: LeaderWatch,
        producer: AsyncProducer,
        grace: timedelta,
        tls_files: tls.TlsFiles,
        observers: tuple[TaskObserver, ...] | None = None,
        running_delay: timedelta = timedelta(0),
        refused: Mapping[str, str] | None = None,
        task_user: TaskUser | None = None,
    ) -> None:
        """`refused`: why a type this participant must not run is refused (FATAL_FAILED);
        `task_user`: who task processes run as (default: HELICASE_PARTICIPANT_TASK_USER's)."""
        self.name = name
        self.group = group
        self.capacity = capacity
        self.task_types = task_types
        self._refused = dict(refused or {})
        self._task_user = task_user or default_task_user()
        self.connected = asyncio.Event()
        self._leader = leader
        self._producer = producer
        self._grace = grace
        self._tls = tls_files  # its certificate names this participant's name and group
        self._running_delay = running_delay.total_seconds()
        self._running: dict[Key, _Running] = {}
        self._unacked = Unacked()
        self._outbox: asyncio.Queue[participant_pb2.ConnectRequest] | None = None
        self._stopping = False
        self._source = f"participant/{name}"
        self._observers = installed() if observers is None else observers
        self._epoch = 0  # the leader epoch of the current stream (from its Welcome)

    # The stream ------------------------------------------------------------------------------

    async def run_forever(self) -> None:
        backoff = 0.1
        while True:
            addr = await self._leader.wait_for_leader()
            leader_changed = self._leader.next_change()
            try:
                await self._session(addr)
                backoff = 0.1
            except grpc.aio.AioRpcError as err:
                log.info(
                    "stream to controller ended",
                    extra={"leader": addr, "code": err.code().name, "detail": err.details()},
                )
            except Exception:
                log.exception("stream to controller failed", extra={"leader": addr})
            finally:
                self.connected.clear()
                self._outbox = None
            # Back off, but reconnect at once when a new leader is announced (failover).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leader_changed.wait(), timeout=backoff)
            backoff = min(backoff * 2, 2.0)

    async def _session(self, addr: str) -> None:
        outbox: asyncio.Queue[participant_pb2.ConnectRequest] = asyncio.Queue()
        running = [entry.ref for entry in self._running.values()]
        outbox.put_nowait(
            hello(
                name=self.name,
                group=self.group,
                capacity=self.capacity,
                task_types=list(self.task_types.values()),
                running=running,
            )
        )
        for result in self._unacked.pending():
            outbox.put_nowait(participant_pb2.ConnectRequest(result=result))
        # From here on new results go to this stream too (queued behind the Hello).
        self._outbox = outbox

        async def requests() -> AsyncIterator[participant_pb2.ConnectRequest]:
            while True:
                yield _batched(await outbox.get(), outbox)

        async with tls.channel(addr, self._tls, "controller") as chan:
            stub = participant_pb2_grpc.ParticipantServiceStub(chan)
            call = stub.Connect(requests())
            leader_changed = asyncio.create_task(self._leader.wait_changed())
            try:
                async for response in _until(call, leader_changed):
                    self._on_response(response, addr)
            finally:
                leader_changed.cancel()
                call.cancel()

    def _on_response(self, response: participant_pb2.ConnectResponse, addr: str) -> None:
        kind = response.WhichOneof("message")
        if kind == "batch":
            for message in response.batch.messages:
                self._on_response(message, addr)
        elif kind == "welcome":
            self._epoch = response.welcome.epoch
            self.connected.set()
            log.info(
                "connected to controller", extra={"leader": addr, "epoch": response.welcome.epoch}
            )
        elif kind == "assignment":
            self._observe("assigned", response.assignment.task)
            self._start(response.assignment)
        elif kind == "cancel":
            self._cancel(response.cancel.task, response.cancel.reason)
        elif kind == "ack":
            ack = response.ack
            if self._observers:
                answers: tuple[tuple[TaskEventKind, Any], ...] = (
                    ("acked", ack.tasks),
                    ("superseded", ack.superseded),
                )
                for answer, refs in answers:
                    for ref in refs:
                        held = self._unacked.get(key_of(ref))
                        self._observe(answer, ref, held.outcome if held else None)
            for ref in ack.superseded:
                log.info(
                    "result superseded: the controller did not record it",
                    extra={"workflow_id": ref.workflow_id, "task_id": ref.task_id},
                )
            self._unacked.ack([*ack.tasks, *ack.superseded])

    def _observe(
        self,
        kind: TaskEventKind,
        ref: participant_pb2.TaskRef,
        outcome: Outcome.ValueType | None = None,
    ) -> None:
        if self._observers:
            event = TaskEvent(
                kind=kind, participant=self.name, ref=ref, epoch=self._epoch, outcome=outcome
            )
            notify(self._observers, event)

    def _send(self, message: participant_pb2.ConnectRequest) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    # Running tasks ---------------------------------------------------------------------------

    def _start(self, assignment: participant_pb2.Assignment) -> None:
        key = key_of(assignment.task)
        if self._stopping or key in self._running:
            return  # shutting down, or a duplicate of a task already running here
        finished = self._unacked.get(key)
        if finished is not None:  # ran already; the controller has not seen the result yet
            self._send(participant_pb2.ConnectRequest(result=finished))
            return
        ref = participant_pb2.TaskRef()
        ref.CopyFrom(assignment.task)
        entry = _Running(ref=ref)
        self._running[key] = entry
        entry.worker = asyncio.create_task(self._execute(entry, assignment))

    def _cancel(self, ref: participant_pb2.TaskRef, reason: str = "") -> None:
        entry = self._running.get(key_of(ref))
        if entry is None:
            return
        log.info(
            "cancel",
            extra={"workflow_id": ref.workflow_id, "task_id": ref.task_id, "reason": reason},
        )
        entry.cancel_requested.set()
        if entry.run is not None:
            entry.run.cancel()

    async def _publish(
        self,
        ref: participant_pb2.TaskRef,
        state: int,
        result: RunResult | None,
        *,
        at: Any = None,
        start: Any = None,
    ) -> None:
        """Publishes a task event (stamped `at`, a Timestamp, or now; `start` is the attempt's
        start on a terminal event), retrying until Kafka acknowledges it (never dropped)."""
        outputs = None
        if result is not None and result.outputs is not None:
            outputs = struct_pb2.Struct()
            outputs.update(result.outputs)
        event = events.task_event(
            workflow_id=ref.workflow_id,
            task_id=ref.task_id,
            attempt=ref.attempt,
            placement=ref.placement,
            state=state,
            source=self._source,
            participant=self.name,
            message=result.message if result else "",
            outputs=outputs,
            at=at,
            start=start,
        )
        data = event.SerializeToString()
        backoff = 0.2
        while True:
            try:
                await self._producer.send(topics.EVENTS, ref.workflow_id, data)
                return
            except Exception as exc:
                log.warning("event publish failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _execute(self, entry: _Running, assignment: participant_pb2.Assignment) -> None:
        ref = entry.ref
        start = events.timestamp()
        try:
            with tracing.span(
                f"run {assignment.type}",
                dict(assignment.trace_context),
                workflow_id=ref.workflow_id,
                task_id=ref.task_id,
                attempt=ref.attempt,
                participant=self.name,
            ):
                metrics.RUNNING.set(len(self._running))
                began = time.perf_counter()
                result = await self._run(entry, assignment, start)
            outcome = Outcome.Name(result.outcome).removeprefix("TASK_OUTCOME_")
            metrics.TASK_RUNS.labels(assignment.type, outcome).inc()
            metrics.TASK_SECONDS.labels(assignment.type).observe(time.perf_counter() - began)
            if self._stopping and result.outcome == Outcome.TASK_OUTCOME_CANCELED:
                return  # killed by our own shutdown: the controller re-places it, report nothing
            state = events.OUTCOME_STATE.get(result.outcome)
            ended = events.timestamp()  # the same on the event and on the result
            if state is not None:
                await self._publish(ref, state, result, at=ended, start=start)
            message = participant_pb2.TaskResult(
                task=ref,
                outcome=result.outcome,
                message=result.message,
                start_time=start,
                end_time=ended,
            )
            if result.outputs is not None:
                message.outputs.update(result.outputs)
            if result.reschedule_after is not None:
                message.reschedule_after.FromTimedelta(result.reschedule_after)
            self._observe("finish", ref, result.outcome)
            self._unacked.add(message)
            self._send(participant_pb2.ConnectRequest(result=message))
            log.debug(
                "task finished",
                extra={
                    "workflow_id": ref.workflow_id,
                    "task_id": ref.task_id,
                    "attempt": ref.attempt,
                    "outcome": Outcome.Name(result.outcome),
                },
            )
        except Exception:
            log.exception("task bookkeeping failed", extra={"task_id": ref.task_id})
        finally:
            self._running.pop(key_of(ref), None)
            metrics.RUNNING.set(len(self._running))
            metrics.UNACKED.set(len(self._unacked))

    async def _run(
        self, entry: _Running, assignment: participant_pb2.Assignment, start: Any
    ) -> RunResult:
        ref = entry.ref
        task_type = self.task_types.get(assignment.type)
        if task_type is None:
            message = self._refused.get(assignment.type) or (
                f"task type {assignment.type!r} is not served by {self.name}"
            )
            return RunResult(Outcome.TASK_OUTCOME_FATAL_FAILED, message)
        announced = _Announcement(self, ref, start, self._running_delay)
        try:
            result = await self._run_announced(entry, assignment, task_type)
        finally:
            announced.disarm()
        if announced.published is not None:
            await announced.published
        return result

    async def _run_announced(
        self, entry: _Running, assignment: participant_pb2.Assignment, task_type: TaskType
    ) -> RunResult:
        ref = entry.ref
        context = TaskContext(
            ref=ref,
            participant=self.name,
            grace=self._grace,
            cancel_requested=entry.cancel_requested,
            task_user=self._task_user,
            log=logging.LoggerAdapter(
                log, {"workflow_id": ref.workflow_id, "task_id": ref.task_id}
            ),
        )
        params = json_format.MessageToDict(assignment.params)
        limit = assignment.timeout.ToTimedelta() if assignment.HasField("timeout") else None
        if entry.cancel_requested.is_set():
            result = RunResult(Outcome.TASK_OUTCOME_CANCELED, "canceled")
        else:
            self._observe("start", ref)
            running = RUNNING_TASK.set(ref)  # the run's task starts with a copy of this context
            try:
                entry.run = asyncio.create_task(run_task(task_type, context, params, limit or None))
            finally:
                RUNNING_TASK.reset(running)
            try:
                result = await entry.run
            except asyncio.CancelledError:
                if not entry.run.cancelled():
                    raise  # this coroutine itself is being cancelled
                # cancelled before its first step, so run_task could not turn it into an outcome
                result = RunResult(Outcome.TASK_OUTCOME_CANCELED, "canceled")
        return result

    # Shutdown --------------------------------------------------------------------------------

    async def stop(self, within: float) -> None:
        """Stops taking assignments, gives unacknowledged results `within` seconds to be
        acknowledged, then stops the running tasks (killing their processes) without reporting
        them: the controller re-places what was running here."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self._unacked) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        runs = [entry.run for entry in self._running.values() if entry.run is not None]
        for run in runs:
            run.cancel()
        if runs:
            await asyncio.wait(runs, timeout=self._grace.total_seconds() + 1)


class _Announcement:
    """A task's RUNNING event and TaskStarted message, sent when the task has run for the
    participant's running delay: a task that ends sooner is reported only by its end (which
    carries its start time), saving an event and a stream message per short task."""

    def __init__(
        self, participant: Participant, ref: participant_pb2.TaskRef, start: Any, delay: float
    ) -> None:
        self._participant = participant
        self._ref = ref
        self._start = start
        self.published: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        if delay > 0:
            self._timer = asyncio.get_running_loop().call_later(delay, self.fire)
        else:
            self.fire()

    def disarm(self) -> None:
        """The task ended: if it was not announced yet, it never will be."""
        if self._timer is not None:
            self._timer.cancel()

    def fire(self) -> None:
        # Not awaited here: the producer keeps per-partition order, so RUNNING lands before the
        # terminal event, and the task does not wait for a broker round trip.
        participant, ref = self._participant, self._ref
        self.published = asyncio.create_task(
            participant._publish(ref, workflow_pb2.TASK_STATE_RUNNING, None, at=self._start)
        )
        participant._send(
            participant_pb2.ConnectRequest(
                started=participant_pb2.TaskStarted(task=ref, start_time=self._start)
            )
        )


def _batched(
    first: participant_pb2.ConnectRequest,
    queue: asyncio.Queue[participant_pb2.ConnectRequest],
) -> participant_pb2.ConnectRequest:
    """`first` and whatever else is queued already as one message; a hello always goes alone, as
    the stream's first message."""
    if queue.empty() or first.WhichOneof("message") == "hello":
        return first
    return participant_pb2.ConnectRequest(
        batch=participant_pb2.ConnectRequestBatch(messages=take_queued(first, queue))
    )


async def _until(
    call: Any, stop: asyncio.Task[None]
) -> AsyncIterator[participant_pb2.ConnectResponse]:
    """Yields the stream's messages until it ends or `stop` completes (the leader changed)."""
    reader = call.__aiter__()
    while True:
        nxt = asyncio.ensure_future(reader.__anext__())
        done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
        if nxt not in done:
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
            return
        try:
            yield nxt.result()
        except StopAsyncIteration:
            return

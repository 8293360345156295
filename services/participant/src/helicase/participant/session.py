"""The participant's life: one Connect stream to the current leader, running what it assigns."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from helicase.common import events, topics
from helicase.common.grpc_server import channel
from helicase.common.kafka import AsyncProducer
from helicase.common.leader import LeaderWatch
from helicase.participant.results import Key, Unacked, key_of
from helicase.participant.runner import OUTCOME_STATE, RunResult, run_task
from helicase.participant.sdk import TaskContext, TaskType
from helicase.v1 import participant_pb2, participant_pb2_grpc, workflow_pb2

log = logging.getLogger(__name__)


class Participant:
    def __init__(
        self,
        *,
        name: str,
        group: str,
        capacity: int,
        task_types: dict[str, TaskType],
        leader: LeaderWatch,
        producer: AsyncProducer,
        grace: float,
    ) -> None:
        self.name = name
        self.group = group
        self.capacity = capacity
        self.task_types = task_types
        self._leader = leader
        self._producer = producer
        self._grace = grace
        self._running: dict[Key, tuple[participant_pb2.TaskRef, asyncio.Task[None]]] = {}
        self._unacked = Unacked()
        self._outbox: asyncio.Queue[participant_pb2.ConnectRequest] | None = None
        self.connected = asyncio.Event()
        self._source = f"participant/{name}"

    def _hello(self) -> participant_pb2.ConnectRequest:
        specs = []
        for task_type in self.task_types.values():
            schema = struct_pb2.Struct()
            schema.update(task_type.schema)
            specs.append(
                participant_pb2.TaskTypeSpec(
                    name=task_type.name, description=task_type.description, params_schema=schema
                )
            )
        return participant_pb2.ConnectRequest(
            hello=participant_pb2.Hello(
                name=self.name,
                instance_group=self.group,
                task_types=specs,
                capacity=self.capacity,
                running=[ref for ref, _ in self._running.values()],
            )
        )

    def _send(self, message: participant_pb2.ConnectRequest) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    async def run_forever(self) -> None:
        backoff = 0.1
        while True:
            addr = await self._leader.wait_for_leader()
            try:
                await self._session(addr)
                backoff = 0.1
            except grpc.aio.AioRpcError as err:
                log.info(
                    "stream to controller ended", extra={"leader": addr, "code": str(err.code())}
                )
            finally:
                self.connected.clear()
                self._outbox = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _session(self, addr: str) -> None:
        outbox: asyncio.Queue[participant_pb2.ConnectRequest] = asyncio.Queue()
        outbox.put_nowait(self._hello())
        for result in self._unacked.pending():
            outbox.put_nowait(participant_pb2.ConnectRequest(result=result))

        async def requests() -> Any:
            while True:
                yield await outbox.get()

        async with channel(addr) as chan:
            stub = participant_pb2_grpc.ParticipantServiceStub(chan)
            call = stub.Connect(requests())
            leader_changed = asyncio.create_task(self._leader.wait_changed())
            try:
                async for response in self._responses(call, leader_changed):
                    kind = response.WhichOneof("message")
                    if kind == "welcome":
                        self._outbox = outbox
                        self.connected.set()
                        log.info("connected to controller", extra={"leader": addr})
                    elif kind == "assignment":
                        self._start(response.assignment)
                    elif kind == "cancel":
                        self._cancel(response.cancel.task)
                    elif kind == "ack":
                        self._unacked.ack(list(response.ack.tasks))
            finally:
                leader_changed.cancel()
                call.cancel()

    async def _responses(self, call: Any, leader_changed: asyncio.Task[None]) -> Any:
        """Yields the controller's messages until the stream ends or the leader changes."""
        reader = call.__aiter__()
        while True:
            nxt = asyncio.ensure_future(reader.__anext__())
            done, _ = await asyncio.wait({nxt, leader_changed}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return

    def _start(self, assignment: participant_pb2.Assignment) -> None:
        key = key_of(assignment.task)
        if key in self._running:
            return  # a duplicate assignment (after a reconnect): already running
        task_type = self.task_types.get(assignment.type)
        ref = participant_pb2.TaskRef()
        ref.CopyFrom(assignment.task)
        run = asyncio.create_task(self._execute(ref, assignment, task_type))
        self._running[key] = (ref, run)

    def _cancel(self, ref: participant_pb2.TaskRef) -> None:
        entry = self._running.get(key_of(ref))
        if entry is not None:
            entry[1].cancel()

    async def _publish(
        self, ref: participant_pb2.TaskRef, state: int, result: RunResult | None
    ) -> None:
        outputs = None
        if result is not None and result.outputs is not None:
            outputs = struct_pb2.Struct()
            outputs.update(result.outputs)
        event = events.task_event(
            workflow_id=ref.workflow_id, task_id=ref.task_id, attempt=ref.attempt,
            placement=ref.placement, state=state, source=self._source, participant=self.name,
            message=result.message if result else "", outputs=outputs,
        )  # fmt: skip
        await self._producer.send(topics.EVENTS, ref.workflow_id, event.SerializeToString())

    async def _execute(
        self,
        ref: participant_pb2.TaskRef,
        assignment: participant_pb2.Assignment,
        task_type: TaskType | None,
    ) -> None:
        start = events.timestamp()
        try:
            if task_type is None:
                result = RunResult(
                    participant_pb2.TASK_OUTCOME_FATAL_FAILED,
                    f"task type {assignment.type!r} is not served by {self.name}",
                )
            else:
                await self._publish(ref, workflow_pb2.TASK_STATE_RUNNING, None)
                self._send(
                    participant_pb2.ConnectRequest(
                        started=participant_pb2.TaskStarted(task=ref, start_time=start)
                    )
                )
                context = TaskContext(
                    workflow_id=ref.workflow_id, task_id=ref.task_id, attempt=ref.attempt,
                    participant=self.name,
                    log=logging.LoggerAdapter(log, {"workflow_id": ref.workflow_id,
                                                    "task_id": ref.task_id}),
                )  # fmt: skip
                context.grace = context.grace.__class__(seconds=self._grace)
                params = json_format.MessageToDict(assignment.params)
                limit = assignment.timeout.ToTimedelta() if assignment.HasField("timeout") else None
                result = await run_task(task_type, context, params, limit or None)
            state_name = OUTCOME_STATE.get(result.outcome)
            if state_name is not None:
                await self._publish(ref, workflow_pb2.TaskState.Value(state_name), result)
            message = participant_pb2.TaskResult(
                task=ref, outcome=result.outcome,  # type: ignore[arg-type]
                message=result.message, start_time=start, end_time=events.timestamp(),
            )  # fmt: skip
            if result.outputs is not None:
                message.outputs.update(result.outputs)
            if result.reschedule_after is not None:
                message.reschedule_after.FromTimedelta(result.reschedule_after)
            self._unacked.add(message)
            self._send(participant_pb2.ConnectRequest(result=message))
        except Exception:
            log.exception("task bookkeeping failed", extra={"task_id": ref.task_id})
        finally:
            self._running.pop(key_of(ref), None)

    async def drain(self, within: float) -> None:
        """On shutdown: give unacknowledged results a moment to be acknowledged."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self._unacked) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

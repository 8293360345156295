"""gRPC faces of the controller: ControllerService and ParticipantService.Connect."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2

from helicase.common.errors import error_info_status
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.controller._model import (
    CancelRequested,
    ParticipantJoined,
    TaskResultReceived,
    TaskStarted,
    WorkflowReleased,
    WorkflowSubmitted,
)
from helicase.controller._shell import Core, status_of
from helicase.v1 import controller_pb2, controller_pb2_grpc, participant_pb2, participant_pb2_grpc

log = logging.getLogger(__name__)
TERMINAL = frozenset(WORKFLOW_TERMINAL)
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class Leadership:
    """Who leads, as this process knows it: the running Core or None."""

    def __init__(self) -> None:
        self.core: Core | None = None
        self.leader_addr = ""

    async def require(self, context: Context) -> Core:
        if self.core is None:
            await context.abort_with_status(
                error_info_status(
                    grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE,
                    "this controller is not the leader", "NOT_LEADER", leader=self.leader_addr,
                )
            )  # fmt: skip
        assert self.core is not None
        return self.core


def _stimulus_id(kind: str) -> str:
    return f"{kind}-{time.time_ns()}"


def _key(ref: participant_pb2.TaskRef) -> tuple[str, str, int, int]:
    return (ref.workflow_id, ref.task_id, ref.attempt, ref.placement)


class ControllerService(controller_pb2_grpc.ControllerServiceServicer):
    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership

    async def SubmitWorkflow(
        self, request: controller_pb2.SubmitWorkflowRequest, context: Context
    ) -> controller_pb2.SubmitWorkflowResponse:
        core = await self._leadership.require(context)
        known = request.workflow.id in core.machine.workflows
        if not known:
            await core.call(
                WorkflowSubmitted(
                    stimulus_id=_stimulus_id("submit"), now=time.time(), workflow=request.workflow
                )
            )
        workflow = core.machine.workflows.get(request.workflow.id)
        if workflow is None:
            await context.abort(grpc.StatusCode.INTERNAL, "workflow vanished after submit")
        assert workflow is not None
        return controller_pb2.SubmitWorkflowResponse(
            status=status_of(workflow), already_submitted=known
        )

    async def CancelWorkflow(
        self, request: controller_pb2.ControllerServiceCancelWorkflowRequest, context: Context
    ) -> controller_pb2.ControllerServiceCancelWorkflowResponse:
        core = await self._leadership.require(context)
        if request.workflow_id not in core.machine.workflows:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"workflow {request.workflow_id} unknown"
            )
        await core.call(
            CancelRequested(
                stimulus_id=_stimulus_id("cancel"),
                now=time.time(),
                workflow_id=request.workflow_id,
                reason=request.reason,
            )
        )
        workflow = core.machine.workflows[request.workflow_id]
        return controller_pb2.ControllerServiceCancelWorkflowResponse(status=status_of(workflow))

    async def WatchWorkflow(
        self, request: controller_pb2.ControllerServiceWatchWorkflowRequest, context: Context
    ) -> AsyncIterator[controller_pb2.ControllerServiceWatchWorkflowResponse]:
        core = await self._leadership.require(context)
        workflow = core.machine.workflows.get(request.workflow_id)
        if workflow is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"workflow {request.workflow_id} unknown"
            )
        assert workflow is not None
        queue = core.watch(request.workflow_id)
        try:
            status: controller_pb2.WorkflowStatus | None = status_of(workflow)
            while status is not None:
                yield controller_pb2.ControllerServiceWatchWorkflowResponse(status=status)
                if status.state in TERMINAL:
                    return
                status = await queue.get()  # None: leadership lost or released; client re-watches
        finally:
            core.unwatch(request.workflow_id, queue)

    async def ReleaseWorkflow(
        self, request: controller_pb2.ReleaseWorkflowRequest, context: Context
    ) -> controller_pb2.ReleaseWorkflowResponse:
        core = await self._leadership.require(context)
        known = request.workflow_id in core.machine.workflows
        if known:
            workflow = core.machine.workflows[request.workflow_id]
            if not workflow.terminal:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, "only a finished workflow is released"
                )
            await core.call(
                WorkflowReleased(
                    stimulus_id=_stimulus_id("release"),
                    now=time.time(),
                    workflow_id=request.workflow_id,
                )
            )
        return controller_pb2.ReleaseWorkflowResponse(released=known)


class ParticipantService(participant_pb2_grpc.ParticipantServiceServicer):
    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership

    async def Connect(
        self, request_iterator: AsyncIterator[participant_pb2.ConnectRequest], context: Context
    ) -> AsyncIterator[participant_pb2.ConnectResponse]:
        core = await self._leadership.require(context)
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("message") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be hello")
        assert first is not None
        hello = first.hello
        name = hello.name
        queue = core.attach(name)
        core.put(
            ParticipantJoined(
                stimulus_id=_stimulus_id(f"join-{name}"), now=time.time(), name=name,
                group=hello.instance_group or "default",
                task_types=frozenset(t.name for t in hello.task_types),
                capacity=hello.capacity or 8,
                running=frozenset(_key(r) for r in hello.running),
            )
        )  # fmt: skip
        log.info("participant connected", extra={"participant": name})
        reader = asyncio.create_task(self._read(core, name, request_iterator, queue))
        try:
            yield participant_pb2.ConnectResponse(welcome=participant_pb2.Welcome(epoch=core.epoch))
            while True:
                message = await queue.get()
                if message is None:
                    return
                yield message
        finally:
            reader.cancel()
            core.detach(name, queue)
            log.info("participant stream ended", extra={"participant": name})

    async def _read(
        self,
        core: Core,
        name: str,
        requests: AsyncIterator[participant_pb2.ConnectRequest],
        queue: asyncio.Queue[Any],
    ) -> None:
        try:
            async for message in requests:
                kind = message.WhichOneof("message")
                now = time.time()
                if kind == "started":
                    core.put(TaskStarted(stimulus_id=_stimulus_id("started"), now=now,
                                         key=_key(message.started.task)))  # fmt: skip
                elif kind == "result":
                    result = message.result
                    outputs = (
                        json_format.MessageToDict(result.outputs)
                        if result.HasField("outputs") else None
                    )  # fmt: skip
                    core.put(
                        TaskResultReceived(
                            stimulus_id=_stimulus_id("result"), now=now, participant=name,
                            key=_key(result.task), outcome=result.outcome,
                            message=result.message, outputs=outputs,
                            reschedule_after=result.reschedule_after.ToTimedelta().total_seconds(),
                        )
                    )  # fmt: skip
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass
        finally:
            queue.put_nowait(None)

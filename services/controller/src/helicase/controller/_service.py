"""gRPC faces of the controller: ControllerService and ParticipantService.Connect. Thin: parse,
turn the request into a stimulus, wait for the machine, answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn, TypeAlias

import grpc
from google.rpc import code_pb2

from helicase.common import tls, tracing
from helicase.common.batching import take_queued
from helicase.common.deadletter import DeadLetterWriter
from helicase.common.errors import InvalidArgument
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.status import error_info_status, invalid_argument_status
from helicase.controller import _dag
from helicase.controller._reader import Parking, read, ref_of
from helicase.controller._shell import LeaderShell, new_stimulus_id
from helicase.controller._stimuli import (
    CancelRequested,
    ParticipantJoined,
    WorkflowReleased,
    WorkflowSubmitted,
)
from helicase.controller._workflow import WorkflowRun, status_of
from helicase.internal.v1 import (
    controller_pb2,
    controller_pb2_grpc,
    participant_pb2,
    participant_pb2_grpc,
)

log = logging.getLogger(__name__)
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
DEFAULT_CAPACITY = 8


class Leadership:
    """Who leads, as this process knows it: the running LeaderShell while this process leads."""

    def __init__(self) -> None:
        self.shell: LeaderShell | None = None
        self.leader_addr = ""  # the leader's address when known (for NOT_LEADER answers)

    async def not_leader(self, context: Context) -> NoReturn:
        await context.abort_with_status(
            error_info_status(
                grpc.StatusCode.UNAVAILABLE,
                code_pb2.UNAVAILABLE,
                "this controller is not the leader",
                "NOT_LEADER",
                leader=self.leader_addr,
            )
        )
        raise AssertionError("abort returns only by raising")

    async def call(self, shell: LeaderShell, context: Context, stimulus: Any) -> None:
        """Feeds `stimulus` and waits until its state is durable; leadership lost on the way
        answers NOT_LEADER, so the caller retries on the new leader."""
        try:
            await shell.call(stimulus)
        except ConnectionError:
            await self.not_leader(context)

    async def require(self, context: Context) -> LeaderShell:
        """The leading shell; NOT_LEADER when there is none, or when its machine failed (its
        state may hold a half-applied step until the election steps it down)."""
        if self.shell is None or self.shell.failed:
            await self.not_leader(context)
        return self.shell


async def _known(shell: LeaderShell, workflow_id: str, context: Context) -> WorkflowRun:
    workflow = shell.machine.workflows.get(workflow_id)
    if workflow is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"workflow {workflow_id!r} is not running")
    assert workflow is not None  # abort raises
    return workflow


class ControllerService(controller_pb2_grpc.ControllerServiceServicer):
    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership

    async def SubmitWorkflow(
        self, request: controller_pb2.SubmitWorkflowRequest, context: Context
    ) -> controller_pb2.SubmitWorkflowResponse:
        shell = await self._leadership.require(context)
        known = shell.machine.workflows.get(request.workflow.id)
        if known is None:
            try:  # a big definition takes a while: not on the loop
                _dag.check_submitted(request.workflow)
                definition = await asyncio.to_thread(_dag.build, request.workflow)
            except InvalidArgument as exc:
                await context.abort_with_status(invalid_argument_status(exc))
                raise
            stimulus = WorkflowSubmitted(
                stimulus_id=new_stimulus_id("submit"), now=time.time(), definition=definition
            )
            if tracing.enabled():  # its tasks' runs join the trace of this submission
                shell.trace_context[request.workflow.id] = tracing.inject()
            await self._leadership.call(shell, context, stimulus)  # returns once durable
            log.info(
                "workflow submitted",
                extra={"workflow_id": request.workflow.id, "owner": request.owner},
            )
        workflow = await _known(shell, request.workflow.id, context)
        return controller_pb2.SubmitWorkflowResponse(
            status=status_of(workflow), already_submitted=known is not None
        )

    async def CancelWorkflow(
        self, request: controller_pb2.CancelWorkflowRequest, context: Context
    ) -> controller_pb2.CancelWorkflowResponse:
        shell = await self._leadership.require(context)
        await _known(shell, request.workflow_id, context)
        await self._leadership.call(
            shell,
            context,
            CancelRequested(
                stimulus_id=new_stimulus_id("cancel"),
                now=time.time(),
                workflow_id=request.workflow_id,
                reason=request.reason,
            ),
        )
        workflow = await _known(shell, request.workflow_id, context)
        return controller_pb2.CancelWorkflowResponse(status=status_of(workflow))

    async def WatchWorkflow(
        self, request: controller_pb2.WatchWorkflowRequest, context: Context
    ) -> AsyncIterator[controller_pb2.WatchWorkflowResponse]:
        shell = await self._leadership.require(context)
        workflow = await _known(shell, request.workflow_id, context)
        queue = shell.watch(request.workflow_id)
        try:
            status: controller_pb2.WorkflowStatus | None = status_of(workflow)
            while status is not None:
                yield controller_pb2.WatchWorkflowResponse(status=status)
                if status.state in WORKFLOW_TERMINAL:
                    return
                status = await queue.get()
        finally:
            shell.unwatch(request.workflow_id, queue)
        await self._leadership.not_leader(context)  # stepped down: watch the new leader

    async def ReleaseWorkflow(
        self, request: controller_pb2.ReleaseWorkflowRequest, context: Context
    ) -> controller_pb2.ReleaseWorkflowResponse:
        shell = await self._leadership.require(context)
        workflow = shell.machine.workflows.get(request.workflow_id)
        if workflow is None:
            return controller_pb2.ReleaseWorkflowResponse(released=False)
        if not workflow.terminal:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "only a finished workflow can be released"
            )
        await self._leadership.call(
            shell,
            context,
            WorkflowReleased(
                stimulus_id=new_stimulus_id("release"),
                now=time.time(),
                workflow_id=request.workflow_id,
            ),
        )
        return controller_pb2.ReleaseWorkflowResponse(released=True)

    async def GetTaskHolder(
        self, request: controller_pb2.GetTaskHolderRequest, context: Context
    ) -> controller_pb2.GetTaskHolderResponse:
        shell = await self._leadership.require(context)
        workflow = await _known(shell, request.workflow_id, context)
        index = workflow.definition.index.get(request.task_id)
        if index is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no task {request.task_id!r}")
        assert index is not None
        response = controller_pb2.GetTaskHolderResponse(task=workflow.definition.task(index))
        if workflow.in_flight(index):
            workflow_id, task_id, attempt, placement = workflow.ref(index)
            response.placement.CopyFrom(
                participant_pb2.TaskRef(
                    workflow_id=workflow_id, task_id=task_id, attempt=attempt, placement=placement
                )
            )
            response.participant = workflow.participant.get(index, "")
        return response


class ParticipantService(participant_pb2_grpc.ParticipantServiceServicer):
    def __init__(
        self, leadership: Leadership, dead_letters: DeadLetterWriter | None = None
    ) -> None:
        self._leadership = leadership
        self._dead_letters = dead_letters

    async def Connect(
        self, request_iterator: AsyncIterator[participant_pb2.ConnectRequest], context: Context
    ) -> AsyncIterator[participant_pb2.ConnectResponse]:
        shell = await self._leadership.require(context)
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("message") != "hello" or not first.hello.name:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a hello with a name"
            )
        assert first is not None
        hello = first.hello
        # A participant is the name and group in its certificate (the interceptor checked it is
        # a participant's), whatever its hello claims.
        identity = tls.peer_identity(context)
        group = hello.instance_group or _dag.DEFAULT_GROUP
        if (hello.name, group) != (identity.name, identity.group):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the certificate names participant {identity.group}/{identity.name},"
                f" not {group}/{hello.name}",
            )
        queue = shell.attach(hello.name)
        shell.put(
            ParticipantJoined(
                stimulus_id=new_stimulus_id(f"joined-{hello.name}"),
                now=time.time(),
                name=hello.name,
                group=group,
                task_types=frozenset(t.name for t in hello.task_types),
                capacity=hello.capacity if hello.capacity > 0 else DEFAULT_CAPACITY,
                running=frozenset(ref_of(r) for r in hello.running),
            )
        )
        log.info("participant connected", extra={"participant": hello.name})
        park = Parking(self._dead_letters, f"{group}/{hello.name}")
        reader = asyncio.create_task(read(shell, hello.name, request_iterator, queue, park))
        try:
            yield participant_pb2.ConnectResponse(
                welcome=participant_pb2.Welcome(epoch=shell.epoch)
            )
            while (message := await _next_batch(queue)) is not None:
                yield message
        finally:
            reader.cancel()
            shell.detach(hello.name, queue)
            log.info("participant stream ended", extra={"participant": hello.name})


async def _next_batch(
    queue: asyncio.Queue[participant_pb2.ConnectResponse | None],
) -> participant_pb2.ConnectResponse | None:
    """The next message and whatever else is queued already, as one message; None when the
    stream is over (after what was queued before it went out)."""
    first = await queue.get()
    if first is None or queue.empty():
        return first
    messages = take_queued(first, queue)
    if len(messages) == 1:
        return first
    return participant_pb2.ConnectResponse(
        batch=participant_pb2.ConnectResponseBatch(messages=messages)
    )

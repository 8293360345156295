"""A thin asyncio wrapper over the generated stubs with deadlines and retries on UNAVAILABLE.

Every unary call carries a deadline (`timeout`, seconds) and is retried on UNAVAILABLE per the
client's RetryPolicy; a watch re-opens its stream after UNAVAILABLE (each response carries the
whole workflow, so nothing is lost) and may be given an overall deadline."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import field_mask_pb2, json_format

from helicase.client._dead_letters import DeadLetterCalls
from helicase.client._retry import RetryPolicy, Throttle, call_with_retries, is_retryable
from helicase.client._schedules_resources_experiments import ScheduleResourceExperimentCalls
from helicase.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    participant_registry_pb2,
    participant_registry_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    task_type_pb2,
    task_type_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)
from helicase.wire import WORKFLOW_TERMINAL, channel

T = TypeVar("T")


def load_workflow_request(
    source: str | Path | dict[str, Any],
) -> workflow_service_pb2.CreateWorkflowRequest:
    """Reads a CreateWorkflowRequest in the design's JSON shape (a file path or a dict).

    A bare workflow (without the "workflow" wrapper) is accepted too; a missing requestId is
    generated so that a retried create stays idempotent.
    """
    raw: dict[str, Any] = (
        source if isinstance(source, dict) else json.loads(Path(source).read_text())
    )
    if "workflow" not in raw:
        raw = {"workflow": raw}
    request = json_format.ParseDict(raw, workflow_service_pb2.CreateWorkflowRequest())
    if not request.request_id:
        request.request_id = str(uuid.uuid4())
    return request


class HelicaseClient(ScheduleResourceExperimentCalls, DeadLetterCalls):
    """Client of the api at `addr` (default 127.0.0.1:50051).

    `token`: the bearer token (an API key or a JWT) every call carries; None reads
    $HELICASE_TOKEN. `timeout`: the deadline of each unary call, in seconds. `retry`: how calls
    are retried after UNAVAILABLE, and after RESOURCE_EXHAUSTED with a RetryInfo (RetryPolicy();
    NO_RETRY to fail at once). Schedules,
    resources, credentials and experiments: see ScheduleResourceExperimentCalls."""

    def __init__(
        self,
        addr: str = "127.0.0.1:50051",
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._channel = channel(addr, token=token)
        self._workflows = workflow_service_pb2_grpc.WorkflowServiceStub(self._channel)
        self._task_types = task_type_pb2_grpc.TaskTypeServiceStub(self._channel)
        self._participants = participant_registry_pb2_grpc.ParticipantRegistryServiceStub(
            self._channel
        )
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._open_schedule_resource_experiment_stubs(self._channel)
        self._open_dead_letter_stub(self._channel)
        self._retention = retention_pb2_grpc.RetentionServiceStub(self._channel)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self.addr = addr

    async def __aenter__(self) -> HelicaseClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retries(call, self._retry)

    async def create(
        self, request: workflow_service_pb2.CreateWorkflowRequest
    ) -> workflow_pb2.Workflow:
        response: workflow_service_pb2.CreateWorkflowResponse = await self._call(
            lambda: self._workflows.CreateWorkflow(request, timeout=self._timeout)
        )
        return response.workflow

    async def get(self, workflow_id: str, *, full: bool = True) -> workflow_pb2.Workflow:
        view = workflow_pb2.WORKFLOW_VIEW_FULL if full else workflow_pb2.WORKFLOW_VIEW_BASIC
        request = workflow_service_pb2.GetWorkflowRequest(id=workflow_id, view=view)
        response: workflow_service_pb2.GetWorkflowResponse = await self._call(
            lambda: self._workflows.GetWorkflow(request, timeout=self._timeout)
        )
        return response.workflow

    async def list_workflows(
        self, request: workflow_service_pb2.ListWorkflowsRequest
    ) -> workflow_service_pb2.ListWorkflowsResponse:
        return await self._call(
            lambda: self._workflows.ListWorkflows(request, timeout=self._timeout)
        )

    async def list_tasks(
        self, request: workflow_service_pb2.ListTasksRequest
    ) -> workflow_service_pb2.ListTasksResponse:
        """One page of a workflow's tasks (any number of tasks: see Workflow.tasks_truncated)."""
        return await self._call(lambda: self._workflows.ListTasks(request, timeout=self._timeout))

    async def cancel(self, workflow_id: str, reason: str = "") -> workflow_pb2.Workflow:
        request = workflow_service_pb2.CancelWorkflowRequest(id=workflow_id, reason=reason)
        response: workflow_service_pb2.CancelWorkflowResponse = await self._call(
            lambda: self._workflows.CancelWorkflow(request, timeout=self._timeout)
        )
        return response.workflow

    async def watch(
        self, workflow_id: str, *, within: float | None = None
    ) -> AsyncIterator[workflow_pb2.Workflow]:
        """Yields the workflow on every change until it is terminal.

        After UNAVAILABLE the stream is re-opened (with the retry policy's backoff; a response
        received resets it), and after RESOURCE_EXHAUSTED (too many open streams, or the
        request rate) once the advised time has passed. `within`: overall deadline in seconds
        (DEADLINE_EXCEEDED past it)."""
        request = workflow_service_pb2.WatchWorkflowRequest(id=workflow_id)
        loop = asyncio.get_running_loop()
        end = None if within is None else loop.time() + within
        delays = self._retry.delays()
        throttle = Throttle(self._retry)
        while True:
            remaining = None if end is None else max(end - loop.time(), 0.001)
            try:
                async for response in self._workflows.WatchWorkflow(request, timeout=remaining):
                    delays = self._retry.delays()
                    yield response.workflow
                    if response.workflow.state in WORKFLOW_TERMINAL:
                        return
                return
            except grpc.aio.AioRpcError as err:
                delay = next(delays, None) if is_retryable(err) else throttle.wait(err)
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def wait(
        self, workflow_id: str, *, within: float = 120.0, poll: float = 0.05
    ) -> workflow_pb2.Workflow:
        """Polls GetWorkflow until the workflow is terminal (as stored in PostgreSQL)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            workflow = await self.get(workflow_id)
            if workflow.state in WORKFLOW_TERMINAL:
                return workflow
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"workflow {workflow_id} still "
                    f"{workflow_pb2.WorkflowState.Name(workflow.state)} after {within}s"
                )
            await asyncio.sleep(poll)

    async def purge_workflows(
        self, request: retention_pb2.PurgeWorkflowsRequest, *, within: float | None = None
    ) -> retention_pb2.PurgeWorkflowsResponse:
        """Purges (or, dry, counts) finished workflows past the retention TTL (an admin's call;
        a purge goes in batches, so give it a longer deadline, `within` seconds, than a
        lookup). A retry after UNAVAILABLE purges what is left."""
        return await self._call(
            lambda: self._retention.PurgeWorkflows(request, timeout=within or self._timeout)
        )

    async def task_types(self, instance_group: str = "") -> list[task_type_pb2.TaskType]:
        request = task_type_pb2.ListTaskTypesRequest(instance_group=instance_group)
        response = await self._call(
            lambda: self._task_types.ListTaskTypes(request, timeout=self._timeout)
        )
        return list(response.task_types)

    async def participants(
        self, instance_group: str = "", task_type: str = ""
    ) -> list[participant_registry_pb2.Participant]:
        """The live participants (optionally of one group, or serving one task type)."""
        request = participant_registry_pb2.ListParticipantsRequest(
            instance_group=instance_group, task_type=task_type
        )
        response = await self._call(
            lambda: self._participants.ListParticipants(request, timeout=self._timeout)
        )
        return list(response.participants)

    async def get_tenant_limits(self, tenant_id: str = "") -> admin_pb2.GetTenantLimitsResponse:
        """A tenant's fair-use limits, as set and in force (the caller's tenant when empty)."""
        request = admin_pb2.GetTenantLimitsRequest(tenant_id=tenant_id)
        return await self._call(lambda: self._admin.GetTenantLimits(request, timeout=self._timeout))

    async def update_tenant_limits(
        self, limits: admin_pb2.TenantLimits, fields: list[str]
    ) -> admin_pb2.TenantLimits:
        """Sets the named fields of a tenant's limits (platform admin); returns those set."""
        request = admin_pb2.UpdateTenantLimitsRequest(
            tenant_limits=limits, update_mask=field_mask_pb2.FieldMask(paths=fields)
        )
        response: admin_pb2.UpdateTenantLimitsResponse = await self._call(
            lambda: self._admin.UpdateTenantLimits(request, timeout=self._timeout)
        )
        return response.tenant_limits

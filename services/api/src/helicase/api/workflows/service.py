"""WorkflowService's handlers: parse, validate, call the store, build the response. Errors are
raised and mapped by helicase.api.errors."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any

from helicase.api import metrics, paging, tenancy
from helicase.api.config import ApiConfig
from helicase.api.convert import definition_of, id_of
from helicase.api.errors import Context
from helicase.api.fairuse.limits import LimitsCache
from helicase.api.notify import ChangeNotifier
from helicase.api.outbox.relay import OutboxRelay
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.workflows import reads
from helicase.api.workflows.store import WorkflowStore
from helicase.api.workflows.validation import (
    Limits,
    SchemaCache,
    validate_cancel,
    validate_create,
    validate_list,
)
from helicase.api.workflows.watch import WorkflowWatch
from helicase.v1 import workflow_pb2, workflow_service_pb2, workflow_service_pb2_grpc

OFF_LOOP_TASKS = 500  # a CreateWorkflow with more tasks is checked in a worker thread


def _checked_definition(
    request: workflow_service_pb2.CreateWorkflowRequest,
    task_types: Mapping[str, Mapping[str, Any]],
    **options: Any,
) -> workflow_pb2.Workflow:
    """The definition to store (with a fresh id) of a request found valid; InvalidArgument
    otherwise."""
    validate_create(request, task_types, **options)
    definition = definition_of(request.workflow)
    definition.id = str(uuid.uuid4())
    return definition


def _full(view: int, default_full: bool) -> bool:
    if view == workflow_pb2.WORKFLOW_VIEW_UNSPECIFIED:
        return default_full
    return view == workflow_pb2.WORKFLOW_VIEW_FULL


class WorkflowService(workflow_service_pb2_grpc.WorkflowServiceServicer):
    def __init__(
        self,
        config: ApiConfig,
        store: WorkflowStore,
        task_types: TaskTypeCatalog,
        relay: OutboxRelay,
        notifier: ChangeNotifier,
        tenant_limits: LimitsCache,
    ) -> None:
        self._config = config
        self._store = store
        self._task_types = task_types
        self._relay = relay
        self._notifier = notifier
        self._limits = Limits(max_tasks=config.max_tasks)
        self._schemas = SchemaCache()
        self._tenant_limits = tenant_limits

    async def CreateWorkflow(
        self, request: workflow_service_pb2.CreateWorkflowRequest, context: Context
    ) -> workflow_service_pb2.CreateWorkflowResponse:
        limits = await self._tenant_limits.of(tenancy.owner())
        checked = partial(
            _checked_definition, request, self._task_types.schemas(), limits=self._limits,
            schemas=self._schemas, reserved_labels=tenancy.component_call(),
        )  # fmt: skip
        # A big workflow takes seconds of CPU to check: off the event loop, so that every other
        # caller is still answered meanwhile (the thread shares the GIL, switching every 5 ms).
        if len(request.workflow.tasks) > OFF_LOOP_TASKS:
            definition = await asyncio.to_thread(checked)
        else:
            definition = checked()
        workflow, created = await self._store.create_workflow(
            request.request_id, definition, limits=limits
        )
        if created:
            self._relay.wake()
            metrics.WORKFLOWS_CREATED.inc()
        return workflow_service_pb2.CreateWorkflowResponse(workflow=workflow)

    async def GetWorkflow(
        self, request: workflow_service_pb2.GetWorkflowRequest, context: Context
    ) -> workflow_service_pb2.GetWorkflowResponse:
        workflow = await self._store.get_workflow(
            id_of(request.id, "workflow"), full=_full(request.view, True)
        )
        return workflow_service_pb2.GetWorkflowResponse(workflow=workflow)

    async def ListWorkflows(
        self, request: workflow_service_pb2.ListWorkflowsRequest, context: Context
    ) -> workflow_service_pb2.ListWorkflowsResponse:
        validate_list(request)
        page = paging.page_request(request.page_size, request.page_token)
        workflows, token = await self._store.list_workflows(
            page=page,
            labels=dict(request.labels),
            states=list(request.states),
            full=_full(request.view, False),
        )
        return workflow_service_pb2.ListWorkflowsResponse(
            workflows=workflows, next_page_token=token
        )

    async def CancelWorkflow(
        self, request: workflow_service_pb2.CancelWorkflowRequest, context: Context
    ) -> workflow_service_pb2.CancelWorkflowResponse:
        validate_cancel(request)
        workflow = await self._store.cancel_workflow(id_of(request.id, "workflow"), request.reason)
        self._relay.wake()
        self._notifier.changed([workflow.id])
        return workflow_service_pb2.CancelWorkflowResponse(workflow=workflow)

    async def ListTasks(
        self, request: workflow_service_pb2.ListTasksRequest, context: Context
    ) -> workflow_service_pb2.ListTasksResponse:
        page = paging.page_request(
            request.page_size, request.page_token,
            default=reads.LIST_TASKS_DEFAULT, maximum=reads.LIST_TASKS_MAX,
        )  # fmt: skip
        found, token = await self._store.list_tasks(
            id_of(request.workflow_id, "workflow"), page=page, states=list(request.states)
        )
        return workflow_service_pb2.ListTasksResponse(tasks=found, next_page_token=token)

    async def WatchWorkflow(
        self, request: workflow_service_pb2.WatchWorkflowRequest, context: Context
    ) -> AsyncIterator[workflow_service_pb2.WatchWorkflowResponse]:
        workflow_id = id_of(request.id, "workflow")
        wake = self._notifier.subscribe(str(workflow_id))
        refresh = self._config.watch_refresh.total_seconds()
        watch = WorkflowWatch(self._store, workflow_id, changes_only=request.changes_only)
        try:
            yield await watch.snapshot()
            while not watch.ended:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=refresh)
                wake.clear()
                async for response in watch.changed():
                    yield response
        finally:
            self._notifier.unsubscribe(str(workflow_id), wake)

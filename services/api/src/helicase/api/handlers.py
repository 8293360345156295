"""gRPC handlers: parse, validate, call the store, map errors. No SQL here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import struct_pb2
from sqlalchemy.exc import InterfaceError, OperationalError

from helicase.api import metrics
from helicase.api.config import ApiConfig
from helicase.api.convert import definition_of, parse_id
from helicase.api.notify import ChangeNotifier
from helicase.api.registry import TaskTypeRegistry
from helicase.api.relay import OutboxRelay
from helicase.api.store import Store
from helicase.api.validation import Limits, SchemaCache, validate_create
from helicase.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.status import invalid_argument_status
from helicase.v1 import (
    event_pb2,
    event_pb2_grpc,
    task_type_pb2,
    task_type_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_PAGE, MAX_PAGE = 50, 500
WS_NAMES: dict[int, str] = {
    int(value): name.removeprefix("WORKFLOW_STATE_")
    for name, value in workflow_pb2.WorkflowState.items()
}


async def _guard(
    context: grpc.aio.ServicerContext[Any, Any], call: Callable[[], Awaitable[T]]
) -> T:
    """Runs a handler body, mapping domain errors to gRPC statuses."""
    try:
        return await call()
    except InvalidArgument as exc:
        await context.abort_with_status(invalid_argument_status(exc))
    except NotFound as exc:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    except FailedPrecondition as exc:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    except (OperationalError, InterfaceError) as exc:
        # PostgreSQL is down or restarting: nothing was stored, the client may retry.
        log.warning("database unavailable", extra={"error": str(exc).splitlines()[0]})
        await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable; retry")
    raise AssertionError("unreachable")


def _workflow_id(raw: str) -> uuid.UUID:
    parsed = parse_id(raw)
    if parsed is None:
        raise NotFound(f"workflow {raw!r} not found")
    return parsed


class WorkflowService(workflow_service_pb2_grpc.WorkflowServiceServicer):
    def __init__(
        self,
        config: ApiConfig,
        store: Store,
        registry: TaskTypeRegistry,
        relay: OutboxRelay,
        notifier: ChangeNotifier,
    ) -> None:
        self._config = config
        self._store = store
        self._registry = registry
        self._relay = relay
        self._notifier = notifier
        self._limits = Limits(max_tasks=config.max_tasks)
        self._schemas = SchemaCache()

    async def CreateWorkflow(
        self,
        request: workflow_service_pb2.CreateWorkflowRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> workflow_service_pb2.CreateWorkflowResponse:
        async def body() -> workflow_service_pb2.CreateWorkflowResponse:
            validate_create(
                request, self._registry.schemas(), limits=self._limits, schemas=self._schemas
            )
            definition = definition_of(request.workflow)
            definition.id = str(uuid.uuid4())
            workflow, created = await self._store.create_workflow(request.request_id, definition)
            if created:
                self._relay.wake()
                metrics.WORKFLOWS_CREATED.inc()
            return workflow_service_pb2.CreateWorkflowResponse(workflow=workflow)

        return await _guard(context, body)

    def _full(self, view: int, default_full: bool) -> bool:
        if view == workflow_pb2.WORKFLOW_VIEW_UNSPECIFIED:
            return default_full
        return view == workflow_pb2.WORKFLOW_VIEW_FULL

    async def GetWorkflow(
        self,
        request: workflow_service_pb2.GetWorkflowRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> workflow_service_pb2.GetWorkflowResponse:
        async def body() -> workflow_service_pb2.GetWorkflowResponse:
            workflow = await self._store.get_workflow(
                _workflow_id(request.id), full=self._full(request.view, True)
            )
            return workflow_service_pb2.GetWorkflowResponse(workflow=workflow)

        return await _guard(context, body)

    async def ListWorkflows(
        self,
        request: workflow_service_pb2.ListWorkflowsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> workflow_service_pb2.ListWorkflowsResponse:
        async def body() -> workflow_service_pb2.ListWorkflowsResponse:
            violations = []
            if request.page_size < 0 or request.page_size > MAX_PAGE:
                violations.append(FieldViolation("page_size", f"must be 0..{MAX_PAGE}"))
            try:
                workflows, token = await self._store.list_workflows(
                    page_size=request.page_size or DEFAULT_PAGE,
                    page_token=request.page_token,
                    labels=dict(request.labels),
                    states=list(request.states),
                    full=self._full(request.view, False),
                )
            except ValueError:
                violations.append(FieldViolation("page_token", "is not a token from this API"))
            if violations:
                raise InvalidArgument(violations)
            return workflow_service_pb2.ListWorkflowsResponse(
                workflows=workflows, next_page_token=token
            )

        return await _guard(context, body)

    async def CancelWorkflow(
        self,
        request: workflow_service_pb2.CancelWorkflowRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> workflow_service_pb2.CancelWorkflowResponse:
        async def body() -> workflow_service_pb2.CancelWorkflowResponse:
            workflow = await self._store.cancel_workflow(_workflow_id(request.id), request.reason)
            self._relay.wake()
            self._notifier.changed([workflow.id])
            return workflow_service_pb2.CancelWorkflowResponse(workflow=workflow)

        return await _guard(context, body)

    async def WatchWorkflow(
        self,
        request: workflow_service_pb2.WatchWorkflowRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[workflow_service_pb2.WatchWorkflowResponse]:
        workflow_id = await _guard(context, lambda: asyncio.sleep(0, _workflow_id(request.id)))
        wake = self._notifier.subscribe(str(workflow_id))
        refresh = self._config.watch_refresh.total_seconds()
        last = b""
        try:
            while True:
                wake.clear()
                workflow = await _guard(
                    context, lambda: self._store.get_workflow(workflow_id, full=True)
                )
                encoded = workflow.SerializeToString(deterministic=True)
                if encoded != last:
                    last = encoded
                    yield workflow_service_pb2.WatchWorkflowResponse(workflow=workflow)
                if workflow.state in WORKFLOW_TERMINAL:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=refresh)
        finally:
            self._notifier.unsubscribe(str(workflow_id), wake)


class TaskTypeService(task_type_pb2_grpc.TaskTypeServiceServicer):
    def __init__(self, registry: TaskTypeRegistry) -> None:
        self._registry = registry

    def _all(self, group: str) -> list[task_type_pb2.TaskType]:
        out = []
        for info, groups, count in self._registry.task_types(group):
            schema = struct_pb2.Struct()
            schema.update(info.params_schema)
            out.append(
                task_type_pb2.TaskType(
                    name=info.name, description=info.description, params_schema=schema,
                    instance_groups=groups, participant_count=count,
                )
            )  # fmt: skip
        return out

    async def ListTaskTypes(
        self,
        request: task_type_pb2.ListTaskTypesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> task_type_pb2.ListTaskTypesResponse:
        return task_type_pb2.ListTaskTypesResponse(task_types=self._all(request.instance_group))

    async def GetTaskType(
        self,
        request: task_type_pb2.GetTaskTypeRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> task_type_pb2.GetTaskTypeResponse:
        for task_type in self._all(""):
            if task_type.name == request.name:
                return task_type_pb2.GetTaskTypeResponse(task_type=task_type)
        await context.abort(grpc.StatusCode.NOT_FOUND, f"task type {request.name!r} not found")
        raise AssertionError("unreachable")


class EventService(event_pb2_grpc.EventServiceServicer):
    def __init__(self, store: Store, notifier: ChangeNotifier) -> None:
        self._store = store
        self._notifier = notifier

    async def RecordEvents(
        self,
        request: event_pb2.RecordEventsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> event_pb2.RecordEventsResponse:
        async def body() -> event_pb2.RecordEventsResponse:
            violations = []
            # Each distinct workflow id parsed once, not once per event.
            bad_ids = {w for w in {e.workflow_id for e in request.events} if parse_id(w) is None}
            for index, event in enumerate(request.events):
                if not event.event_id:
                    violations.append(FieldViolation(f"events[{index}].event_id", "is required"))
                if event.workflow_id in bad_ids:
                    violations.append(
                        FieldViolation(f"events[{index}].workflow_id", "is not a workflow id")
                    )
                if event.WhichOneof("payload") is None:
                    violations.append(FieldViolation(f"events[{index}].payload", "is required"))
            if violations:
                raise InvalidArgument(violations)
            stored, changed = await self._store.record_events(request.events)
            self._notifier.changed(changed)
            metrics.EVENTS_RECORDED.inc(stored)
            ended = {
                e.workflow_id
                for e in request.events
                if e.HasField("workflow_event") and e.workflow_event.state in WORKFLOW_TERMINAL
            } & changed
            if ended:
                for state, seconds in await self._store.end_to_end(ended):
                    name = WS_NAMES.get(state, str(state))
                    metrics.END_TO_END_SECONDS.labels(name).observe(seconds)
            return event_pb2.RecordEventsResponse(
                stored_count=stored, duplicate_count=len(request.events) - stored
            )

        return await _guard(context, body)

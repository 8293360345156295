"""ExperimentService: experiments stored with the workflow that runs them (one transaction), and
read back through that workflow. Handlers stay thin; SQL is in ExperimentStore below."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf import json_format
from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api.convert import decode_page_token, definition_of, encode_page_token, parse_id
from helicase.api.experiments import cleanup_workflow, derive, expand, validate_experiment
from helicase.api.handlers import MAX_PAGE, _guard
from helicase.api.notify import ChangeNotifier
from helicase.api.registry import TaskTypeRegistry
from helicase.api.relay import OutboxRelay
from helicase.api.resource_store import ResourceStore
from helicase.api.resource_tables import experiments
from helicase.api.store import Store
from helicase.api.validation import Limits, SchemaCache, validate_create
from helicase.common.errors import FieldViolation, InvalidArgument, NotFound
from helicase.v1 import experiment_pb2, experiment_pb2_grpc, workflow_service_pb2

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
DEFAULT_PAGE = 50
log = logging.getLogger(__name__)


def _definition_json(experiment: experiment_pb2.Experiment) -> dict[str, Any]:
    return json_format.MessageToDict(experiment)


def _definition_of(row: Any) -> experiment_pb2.Experiment:
    return json_format.ParseDict(row["definition"], experiment_pb2.Experiment())


class ExperimentStore:
    """Experiments rows; the workflow itself goes through Store.create_workflow."""

    def __init__(self, engine: AsyncEngine, store: Store) -> None:
        self.engine = engine
        self.store = store

    async def create(
        self, request_id: str, experiment: experiment_pb2.Experiment, workflow: Any
    ) -> tuple[experiment_pb2.Experiment, bool]:
        async def insert_experiment(conn: AsyncConnection) -> None:
            await conn.execute(
                experiments.insert().values(
                    id=uuid.UUID(experiment.id), request_id=request_id or None,
                    workflow_id=uuid.UUID(workflow.id), display_name=experiment.display_name,
                    definition=_definition_json(experiment), create_time=datetime.now(UTC),
                )
            )  # fmt: skip

        workflow_request_id = f"experiment:{request_id}" if request_id else ""
        created_workflow, created = await self.store.create_workflow(
            workflow_request_id, workflow, also=insert_experiment
        )
        if created:
            view = derive(experiment, created_workflow)
            view.create_time.CopyFrom(created_workflow.create_time)
            return view, True
        return await self.get_by_workflow(uuid.UUID(created_workflow.id)), False

    async def get_by_workflow(self, workflow_id: uuid.UUID) -> experiment_pb2.Experiment:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(experiments).where(experiments.c.workflow_id == workflow_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"no experiment runs workflow {workflow_id}")
        return await self._view(row._mapping)

    async def find_request(self, request_id: str) -> experiment_pb2.Experiment | None:
        if not request_id:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(experiments).where(experiments.c.request_id == request_id)
                )
            ).first()
        return None if row is None else await self._view(row._mapping)

    async def get(self, raw_id: str) -> experiment_pb2.Experiment:
        parsed = parse_id(raw_id)
        row = None
        if parsed is not None:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(select(experiments).where(experiments.c.id == parsed))
                ).first()
        if row is None:
            raise NotFound(f"experiment {raw_id!r} not found")
        return await self._view(row._mapping)

    async def list(
        self, page_size: int, page_token: str
    ) -> tuple[list[experiment_pb2.Experiment], str]:
        t = experiments
        query = select(t).order_by(t.c.create_time.desc(), t.c.id.desc())
        if page_token:
            try:
                when, last = decode_page_token(page_token)
            except ValueError:
                raise InvalidArgument(
                    [FieldViolation("page_token", "invalid page_token")]
                ) from None
            query = query.where(
                or_(t.c.create_time < when, tuple_(t.c.create_time, t.c.id) < tuple_(when, last))
            )
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in (await conn.execute(query.limit(page_size + 1))).all()]
        token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            token = encode_page_token(rows[-1]["create_time"], rows[-1]["id"])
        return [await self._view(r) for r in rows], token

    async def cancel(self, raw_id: str, reason: str) -> tuple[experiment_pb2.Experiment, Any]:
        """Cancels the experiment's workflow; returns (experiment before, workflow after)."""
        experiment = await self.get(raw_id)
        workflow = await self.store.cancel_workflow(uuid.UUID(experiment.workflow_id), reason)
        return experiment, workflow

    async def _view(self, row: Any) -> experiment_pb2.Experiment:
        workflow = await self.store.get_workflow(row["workflow_id"], full=True)
        view = derive(_definition_of(row), workflow)
        view.create_time.FromDatetime(row["create_time"])
        return view


class ExperimentService(experiment_pb2_grpc.ExperimentServiceServicer):
    def __init__(
        self,
        experiments_store: ExperimentStore,
        resources: ResourceStore,
        registry: TaskTypeRegistry,
        relay: OutboxRelay,
        notifier: ChangeNotifier,
        limits: Limits,
    ) -> None:
        self._experiments = experiments_store
        self._resources = resources
        self._registry = registry
        self._relay = relay
        self._notifier = notifier
        self._limits = limits
        self._schemas = SchemaCache()

    async def _resolve(self, e: experiment_pb2.Experiment) -> tuple[Any, Any]:
        out = []
        compute = storage = None
        try:
            compute = await self._resources.get_compute(e.compute_resource_id)
        except NotFound:
            out.append(FieldViolation("experiment.compute_resource_id", "no such compute resource"))
        try:
            storage = await self._resources.get_storage(e.storage_resource_id)
        except NotFound:
            out.append(FieldViolation("experiment.storage_resource_id", "no such storage resource"))
        try:
            await self._resources.get_credential(e.credential_id)
        except NotFound:
            out.append(FieldViolation("experiment.credential_id", "no such credential"))
        if out:
            raise InvalidArgument(out)
        return compute, storage

    async def CreateExperiment(
        self, request: experiment_pb2.CreateExperimentRequest, context: Context
    ) -> experiment_pb2.CreateExperimentResponse:
        async def body() -> experiment_pb2.CreateExperimentResponse:
            validate_experiment(request)
            known = await self._experiments.find_request(request.request_id)
            if known is not None:
                return experiment_pb2.CreateExperimentResponse(experiment=known)
            compute, storage = await self._resolve(request.experiment)
            experiment = experiment_pb2.Experiment()
            experiment.CopyFrom(request.experiment)
            for name in ("workflow_id", "state", "job_id", "job_exit_code", "output_locations",
                         "archive_location", "remote_dir", "message", "create_time"):  # fmt: skip
                experiment.ClearField(name)
            experiment.id = str(uuid.uuid4())
            workflow = expand(experiment, experiment.id, compute, storage)
            as_request = workflow_service_pb2.CreateWorkflowRequest(workflow=workflow)
            validate_create(
                as_request, self._registry.schemas(), limits=self._limits, schemas=self._schemas
            )
            definition = definition_of(workflow)
            definition.id = str(uuid.uuid4())
            made, created = await self._experiments.create(
                request.request_id, experiment, definition
            )
            if created:
                self._relay.wake()
            return experiment_pb2.CreateExperimentResponse(experiment=made)

        return await _guard(context, body)

    async def GetExperiment(
        self, request: experiment_pb2.GetExperimentRequest, context: Context
    ) -> experiment_pb2.GetExperimentResponse:
        async def body() -> experiment_pb2.GetExperimentResponse:
            return experiment_pb2.GetExperimentResponse(
                experiment=await self._experiments.get(request.id)
            )

        return await _guard(context, body)

    async def ListExperiments(
        self, request: experiment_pb2.ListExperimentsRequest, context: Context
    ) -> experiment_pb2.ListExperimentsResponse:
        async def body() -> experiment_pb2.ListExperimentsResponse:
            if request.page_size < 0 or request.page_size > MAX_PAGE:
                raise InvalidArgument([FieldViolation("page_size", f"must be 0..{MAX_PAGE}")])
            items, token = await self._experiments.list(
                request.page_size or DEFAULT_PAGE, request.page_token
            )
            return experiment_pb2.ListExperimentsResponse(experiments=items, next_page_token=token)

        return await _guard(context, body)

    async def CancelExperiment(
        self, request: experiment_pb2.CancelExperimentRequest, context: Context
    ) -> experiment_pb2.CancelExperimentResponse:
        async def body() -> experiment_pb2.CancelExperimentResponse:
            before, _ = await self._experiments.cancel(request.id, request.reason)
            self._relay.wake()
            self._notifier.changed([before.workflow_id])
            current = await self._experiments.get(request.id)
            workflow = await self._experiments.store.get_workflow(
                uuid.UUID(before.workflow_id), full=True
            )
            cleanup = cleanup_workflow(current, workflow)
            cleanup_id = ""
            if cleanup is not None:
                cleanup_id = await self._launch_cleanup(current.id, cleanup)
            return experiment_pb2.CancelExperimentResponse(
                experiment=current, cleanup_workflow_id=cleanup_id
            )

        return await _guard(context, body)

    async def _launch_cleanup(self, experiment_id: str, cleanup: Any) -> str:
        """Creates the cleanup workflow once per experiment (idempotent on its request id)."""
        request_id = f"experiment-cancel:{experiment_id}"
        try:
            validate_create(
                workflow_service_pb2.CreateWorkflowRequest(request_id=request_id, workflow=cleanup),
                self._registry.schemas(),
                limits=self._limits,
                schemas=self._schemas,
            )
        except InvalidArgument as exc:  # e.g. no participant serves airavata.cancel_job now
            log.warning(
                "job cleanup not launched", extra={"experiment": experiment_id, "error": str(exc)}
            )
            return ""
        definition = definition_of(cleanup)
        definition.id = str(uuid.uuid4())
        made, created = await self._experiments.store.create_workflow(request_id, definition)
        if created:
            self._relay.wake()
        return made.id

"""ExperimentService's handlers: an experiment is validated (experiments.validation), expanded
into its workflow (experiments.steps) and stored with it (experiments.store)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from helicase.api import paging
from helicase.api.convert import definition_of
from helicase.api.errors import Context
from helicase.api.experiments.steps import cleanup_workflow, expand
from helicase.api.experiments.store import ExperimentStore
from helicase.api.experiments.validation import validate_cancel, validate_experiment
from helicase.api.notify import ChangeNotifier
from helicase.api.outbox.relay import OutboxRelay
from helicase.api.resources.store import ResourceStore
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.workflows.validation import Limits, SchemaCache, validate_create
from helicase.common.errors import InvalidArgument, NotFound
from helicase.v1 import experiment_pb2, experiment_pb2_grpc, workflow_service_pb2

log = logging.getLogger(__name__)


class ExperimentService(experiment_pb2_grpc.ExperimentServiceServicer):
    def __init__(
        self,
        experiments_store: ExperimentStore,
        resources: ResourceStore,
        task_types: TaskTypeCatalog,
        relay: OutboxRelay,
        notifier: ChangeNotifier,
        limits: Limits,
    ) -> None:
        self._experiments = experiments_store
        self._resources = resources
        self._task_types = task_types
        self._relay = relay
        self._notifier = notifier
        self._limits = limits
        self._schemas = SchemaCache()

    async def _resolve(self, e: experiment_pb2.Experiment) -> tuple[Any, Any]:
        """The experiment's resources, found in the caller's tenant: one that does not exist
        there (or belongs to another tenant) is NOT_FOUND, naming each such field."""
        missing = []
        compute = storage = None
        try:
            compute = await self._resources.get_compute(e.compute_resource_id)
        except NotFound:
            missing.append("experiment.compute_resource_id: no such compute resource")
        try:
            storage = await self._resources.get_storage(e.storage_resource_id)
        except NotFound:
            missing.append("experiment.storage_resource_id: no such storage resource")
        try:
            await self._resources.get_credential(e.credential_id)
        except NotFound:
            missing.append("experiment.credential_id: no such credential")
        if missing:
            raise NotFound("; ".join(missing))
        return compute, storage

    async def CreateExperiment(
        self, request: experiment_pb2.CreateExperimentRequest, context: Context
    ) -> experiment_pb2.CreateExperimentResponse:
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
            as_request, self._task_types.schemas(), limits=self._limits, schemas=self._schemas,
            reserved_labels=True,
        )  # fmt: skip
        definition = definition_of(workflow)
        definition.id = str(uuid.uuid4())
        made, created = await self._experiments.create(request.request_id, experiment, definition)
        if created:
            self._relay.wake()
        return experiment_pb2.CreateExperimentResponse(experiment=made)

    async def GetExperiment(
        self, request: experiment_pb2.GetExperimentRequest, context: Context
    ) -> experiment_pb2.GetExperimentResponse:
        return experiment_pb2.GetExperimentResponse(
            experiment=await self._experiments.get(request.id)
        )

    async def ListExperiments(
        self, request: experiment_pb2.ListExperimentsRequest, context: Context
    ) -> experiment_pb2.ListExperimentsResponse:
        page = paging.page_request(request.page_size, request.page_token)
        items, token = await self._experiments.list(page)
        return experiment_pb2.ListExperimentsResponse(experiments=items, next_page_token=token)

    async def CancelExperiment(
        self, request: experiment_pb2.CancelExperimentRequest, context: Context
    ) -> experiment_pb2.CancelExperimentResponse:
        validate_cancel(request)
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

    async def _launch_cleanup(self, experiment_id: str, cleanup: Any) -> str:
        """Creates the cleanup workflow once per experiment (idempotent on its request id)."""
        request_id = f"experiment-cancel:{experiment_id}"
        try:
            validate_create(
                workflow_service_pb2.CreateWorkflowRequest(request_id=request_id, workflow=cleanup),
                self._task_types.schemas(),
                limits=self._limits,
                schemas=self._schemas,
                reserved_labels=True,
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

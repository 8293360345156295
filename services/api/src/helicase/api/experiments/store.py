"""The SQL of experiments: each stored with the workflow that runs it (one transaction, one
tenant: the caller's), and read back through that workflow, in the caller's tenant
(helicase.api.tenancy)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.convert import parse_id
from helicase.api.experiments.steps import derive
from helicase.api.tables import experiments
from helicase.api.workflows.store import WorkflowStore
from helicase.common.errors import NotFound
from helicase.v1 import experiment_pb2


def _definition_json(experiment: experiment_pb2.Experiment) -> dict[str, Any]:
    return json_format.MessageToDict(experiment)


def _definition_of(row: Any) -> experiment_pb2.Experiment:
    return json_format.ParseDict(row["definition"], experiment_pb2.Experiment())


class ExperimentStore:
    """Experiments rows; the workflow itself goes through WorkflowStore.create_workflow."""

    def __init__(self, engine: AsyncEngine, store: WorkflowStore) -> None:
        self.engine = engine
        self.store = store

    async def create(
        self, request_id: str, experiment: experiment_pb2.Experiment, workflow: Any
    ) -> tuple[experiment_pb2.Experiment, bool]:
        tenant = tenancy.owner()

        async def insert_experiment(conn: AsyncConnection) -> None:
            await conn.execute(
                experiments.insert().values(
                    id=uuid.UUID(experiment.id), tenant=tenant, request_id=request_id or None,
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
            view.tenant = tenant
            return view, True
        return await self.get_by_workflow(uuid.UUID(created_workflow.id)), False

    async def get_by_workflow(self, workflow_id: uuid.UUID) -> experiment_pb2.Experiment:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(experiments).where(
                        experiments.c.workflow_id == workflow_id, *tenancy.where(experiments)
                    )
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
                    select(experiments).where(
                        experiments.c.request_id == request_id, *tenancy.where(experiments)
                    )
                )
            ).first()
        return None if row is None else await self._view(row._mapping)

    async def get(self, raw_id: str) -> experiment_pb2.Experiment:
        parsed = parse_id(raw_id)
        row = None
        if parsed is not None:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(experiments).where(
                            experiments.c.id == parsed, *tenancy.where(experiments)
                        )
                    )
                ).first()
        if row is None:
            raise NotFound(f"experiment {raw_id!r} not found")
        return await self._view(row._mapping)

    async def list(self, page: paging.Page) -> tuple[list[experiment_pb2.Experiment], str]:
        t = experiments
        async with self.engine.connect() as conn:
            key = (t.c.create_time, t.c.id)
            rows, token = await paging.list_page(conn, select(t), t, page, key=key)
        found = [await self._view(r._mapping) for r in rows]
        return paging.fit_page(found, (e.ByteSize() for e in found), rows, token, t, key=key)

    async def cancel(self, raw_id: str, reason: str) -> tuple[experiment_pb2.Experiment, Any]:
        """Cancels the experiment's workflow; returns (experiment before, workflow after)."""
        experiment = await self.get(raw_id)
        workflow = await self.store.cancel_workflow(uuid.UUID(experiment.workflow_id), reason)
        return experiment, workflow

    async def _view(self, row: Any) -> experiment_pb2.Experiment:
        workflow = await self.store.get_workflow(row["workflow_id"], full=True)
        view = derive(_definition_of(row), workflow)
        view.create_time.FromDatetime(row["create_time"])
        view.tenant = row["tenant"]
        return view

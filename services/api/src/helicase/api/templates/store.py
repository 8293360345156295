"""All SQL of workflow templates (table workflow_templates), in the caller's tenant
(helicase.api.tenancy); names are unique within a tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.convert import ts
from helicase.api.tables import workflow_templates
from helicase.common.errors import FieldViolation, InvalidArgument, NotFound
from helicase.v1 import template_pb2, workflow_pb2

T = workflow_templates.c


def _name_taken(name: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation("template.name", f"a template named {name!r} exists")])


def _message(row: Row[Any]) -> template_pb2.WorkflowTemplate:
    workflow = json_format.ParseDict(row.workflow, workflow_pb2.Workflow())
    return template_pb2.WorkflowTemplate(
        id=str(row.id),
        tenant=row.tenant,
        name=row.name,
        description=row.description,
        workflow=workflow,
        create_time=ts(row.create_time),
        update_time=ts(row.update_time),
    )


def _json(workflow: workflow_pb2.Workflow) -> dict[str, Any]:
    return json_format.MessageToDict(workflow)


class TemplateStore:
    """Workflow templates over the api's async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self, *, name: str, description: str, workflow: workflow_pb2.Workflow
    ) -> template_pb2.WorkflowTemplate:
        tenant = tenancy.owner()
        now = datetime.now(UTC)
        try:
            async with self.engine.begin() as conn:
                row = (
                    await conn.execute(
                        workflow_templates.insert()
                        .values(
                            id=uuid.uuid4(),
                            tenant=tenant,
                            name=name,
                            description=description,
                            workflow=_json(workflow),
                            create_time=now,
                            update_time=now,
                        )
                        .returning(*workflow_templates.c)
                    )
                ).one()
        except IntegrityError as exc:
            raise _name_taken(name) from exc
        return _message(row)

    async def get(self, template_id: uuid.UUID) -> template_pb2.WorkflowTemplate:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(workflow_templates).where(
                        T.id == template_id, *tenancy.where(workflow_templates)
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"template {str(template_id)!r} not found")
        return _message(row)

    async def list(self, *, page: paging.Page) -> tuple[list[template_pb2.WorkflowTemplate], str]:
        """A page of templates by name, and the next page's token."""
        async with self.engine.connect() as conn:
            rows, token = await paging.list_page(
                conn, select(workflow_templates), workflow_templates, page,
                key=(T.name, T.id), descending=False,
            )  # fmt: skip
        found = [_message(r) for r in rows]
        sizes = (t.ByteSize() for t in found)
        return paging.fit_page(found, sizes, rows, token, workflow_templates, key=(T.name, T.id))

    async def update(
        self,
        template_id: uuid.UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        workflow: workflow_pb2.Workflow | None = None,
    ) -> template_pb2.WorkflowTemplate:
        values: dict[str, Any] = {"update_time": datetime.now(UTC)}
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description
        if workflow is not None:
            values["workflow"] = _json(workflow)
        try:
            async with self.engine.begin() as conn:
                row = (
                    await conn.execute(
                        update(workflow_templates)
                        .where(T.id == template_id, *tenancy.where(workflow_templates))
                        .values(**values)
                        .returning(*workflow_templates.c)
                    )
                ).first()
        except IntegrityError as exc:
            raise _name_taken(name or "") from exc
        if row is None:
            raise NotFound(f"template {str(template_id)!r} not found")
        return _message(row)

    async def delete(self, template_id: uuid.UUID) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(workflow_templates)
                .where(T.id == template_id, *tenancy.where(workflow_templates))
                .returning(T.id)
            )
            if result.first() is None:
                raise NotFound(f"template {str(template_id)!r} not found")

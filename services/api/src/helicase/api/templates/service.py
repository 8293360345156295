"""TemplateService's handlers over templates.validation and templates.store."""

from __future__ import annotations

from typing import Any

from helicase.api import paging
from helicase.api.convert import definition_of, id_of
from helicase.api.errors import Context
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.templates.store import TemplateStore
from helicase.api.templates.validation import FIELDS, check_template, mask_fields
from helicase.api.workflows.validation import Limits, SchemaCache
from helicase.common.errors import InvalidArgument
from helicase.v1 import template_pb2, template_pb2_grpc


class TemplateService(template_pb2_grpc.TemplateServiceServicer):
    def __init__(self, store: TemplateStore, task_types: TaskTypeCatalog, max_tasks: int) -> None:
        self._store = store
        self._task_types = task_types
        self._limits = Limits(max_tasks=max_tasks)
        self._schemas = SchemaCache()

    def _violations(
        self, template: template_pb2.WorkflowTemplate, fields: tuple[str, ...]
    ) -> list[Any]:
        return check_template(
            template, fields, self._task_types.schemas(), limits=self._limits,
            schemas=self._schemas,
        )  # fmt: skip

    async def CreateTemplate(
        self, request: template_pb2.CreateTemplateRequest, context: Context
    ) -> template_pb2.CreateTemplateResponse:
        template = request.template
        violations = self._violations(template, FIELDS)
        if violations:
            raise InvalidArgument(violations)
        stored = await self._store.create(
            name=template.name,
            description=template.description,
            workflow=definition_of(template.workflow),
        )
        return template_pb2.CreateTemplateResponse(template=stored)

    async def GetTemplate(
        self, request: template_pb2.GetTemplateRequest, context: Context
    ) -> template_pb2.GetTemplateResponse:
        found = await self._store.get(id_of(request.id, "template"))
        return template_pb2.GetTemplateResponse(template=found)

    async def ListTemplates(
        self, request: template_pb2.ListTemplatesRequest, context: Context
    ) -> template_pb2.ListTemplatesResponse:
        page = paging.page_request(request.page_size, request.page_token)
        templates, token = await self._store.list(page=page)
        return template_pb2.ListTemplatesResponse(templates=templates, next_page_token=token)

    async def UpdateTemplate(
        self, request: template_pb2.UpdateTemplateRequest, context: Context
    ) -> template_pb2.UpdateTemplateResponse:
        template = request.template
        fields, bad = mask_fields(list(request.update_mask.paths))
        template_id = id_of(template.id, "template")
        violations = bad + self._violations(template, fields)
        if violations:
            raise InvalidArgument(violations)
        stored = await self._store.update(
            template_id,
            name=template.name if "name" in fields else None,
            description=template.description if "description" in fields else None,
            workflow=definition_of(template.workflow) if "workflow" in fields else None,
        )
        return template_pb2.UpdateTemplateResponse(template=stored)

    async def DeleteTemplate(
        self, request: template_pb2.DeleteTemplateRequest, context: Context
    ) -> template_pb2.DeleteTemplateResponse:
        await self._store.delete(id_of(request.id, "template"))
        return template_pb2.DeleteTemplateResponse()

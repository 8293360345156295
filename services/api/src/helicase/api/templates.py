"""TemplateService: validation of templates (pure) and the thin gRPC handlers over
TemplateStore. A template's workflow is checked like a CreateWorkflow (same task types, same
field violations, named under `template.workflow`), so a saved template is deployable."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any

import grpc

from helicase.api.convert import definition_of, parse_id
from helicase.api.handlers import MAX_PAGE, _guard
from helicase.api.registry import TaskTypeRegistry
from helicase.api.template_store import TemplateStore
from helicase.api.validation import Limits, SchemaCache, validate_create
from helicase.common.errors import FieldViolation, InvalidArgument, NotFound
from helicase.v1 import template_pb2, template_pb2_grpc, workflow_service_pb2

MAX_NAME = 200
MAX_DESCRIPTION = 2000
DEFAULT_PAGE = 50
FIELDS = ("name", "description", "workflow")


def check_template(
    template: template_pb2.WorkflowTemplate,
    fields: tuple[str, ...],
    task_types: Mapping[str, Mapping[str, Any]],
    *,
    limits: Limits,
    schemas: SchemaCache,
) -> list[FieldViolation]:
    """Every violation of the `fields` of `template`."""
    out: list[FieldViolation] = []
    if "name" in fields:
        name = template.name
        if not name.strip():
            out.append(FieldViolation("template.name", "is required"))
        elif len(name) > MAX_NAME or name != name.strip():
            out.append(
                FieldViolation(
                    "template.name", f"must be 1-{MAX_NAME} characters without outer spaces"
                )
            )
    if "description" in fields and len(template.description) > MAX_DESCRIPTION:
        out.append(FieldViolation("template.description", f"is over {MAX_DESCRIPTION} characters"))
    if "workflow" in fields:
        if not template.HasField("workflow"):
            out.append(FieldViolation("template.workflow", "is required"))
        else:
            request = workflow_service_pb2.CreateWorkflowRequest(workflow=template.workflow)
            try:
                validate_create(request, task_types, limits=limits, schemas=schemas)
            except InvalidArgument as exc:
                out.extend(
                    FieldViolation(f"template.{v.field}", v.description) for v in exc.violations
                )
    return out


def mask_fields(paths: list[str]) -> tuple[tuple[str, ...], list[FieldViolation]]:
    """The fields an update replaces (all when the mask is empty), and bad mask paths."""
    bad = [
        FieldViolation(f"update_mask.paths[{i}]", f"must be one of {', '.join(FIELDS)}")
        for i, path in enumerate(paths)
        if path not in FIELDS
    ]
    return (tuple(p for p in FIELDS if p in paths) if paths else FIELDS), bad


def encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def decode_token(token: str) -> str:
    """Raises ValueError for a token this server did not make."""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid page_token") from exc


def _template_id(raw: str) -> uuid.UUID:
    parsed = parse_id(raw)
    if parsed is None:
        raise NotFound(f"template {raw!r} not found")
    return parsed


class TemplateService(template_pb2_grpc.TemplateServiceServicer):
    def __init__(self, store: TemplateStore, registry: TaskTypeRegistry, max_tasks: int) -> None:
        self._store = store
        self._registry = registry
        self._limits = Limits(max_tasks=max_tasks)
        self._schemas = SchemaCache()

    def _check(self, template: template_pb2.WorkflowTemplate, fields: tuple[str, ...]) -> None:
        violations = check_template(
            template, fields, self._registry.schemas(), limits=self._limits, schemas=self._schemas
        )
        if violations:
            raise InvalidArgument(violations)

    async def CreateTemplate(
        self,
        request: template_pb2.CreateTemplateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> template_pb2.CreateTemplateResponse:
        async def body() -> template_pb2.CreateTemplateResponse:
            template = request.template
            self._check(template, FIELDS)
            stored = await self._store.create(
                name=template.name,
                description=template.description,
                workflow=definition_of(template.workflow),
            )
            return template_pb2.CreateTemplateResponse(template=stored)

        return await _guard(context, body)

    async def GetTemplate(
        self,
        request: template_pb2.GetTemplateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> template_pb2.GetTemplateResponse:
        async def body() -> template_pb2.GetTemplateResponse:
            found = await self._store.get(_template_id(request.id))
            return template_pb2.GetTemplateResponse(template=found)

        return await _guard(context, body)

    async def ListTemplates(
        self,
        request: template_pb2.ListTemplatesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> template_pb2.ListTemplatesResponse:
        async def body() -> template_pb2.ListTemplatesResponse:
            violations = []
            if not 0 <= request.page_size <= MAX_PAGE:
                violations.append(FieldViolation("page_size", f"must be 0..{MAX_PAGE}"))
            after = None
            if request.page_token:
                try:
                    after = decode_token(request.page_token)
                except ValueError:
                    violations.append(FieldViolation("page_token", "is not a token from this API"))
            if violations:
                raise InvalidArgument(violations)
            page, last = await self._store.list(
                page_size=request.page_size or DEFAULT_PAGE, after_name=after
            )
            token = encode_token(last) if last is not None else ""
            return template_pb2.ListTemplatesResponse(templates=page, next_page_token=token)

        return await _guard(context, body)

    async def UpdateTemplate(
        self,
        request: template_pb2.UpdateTemplateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> template_pb2.UpdateTemplateResponse:
        async def body() -> template_pb2.UpdateTemplateResponse:
            template = request.template
            fields, bad = mask_fields(list(request.update_mask.paths))
            template_id = _template_id(template.id)
            violations = bad + check_template(
                template,
                fields,
                self._registry.schemas(),
                limits=self._limits,
                schemas=self._schemas,
            )
            if violations:
                raise InvalidArgument(violations)
            stored = await self._store.update(
                template_id,
                name=template.name if "name" in fields else None,
                description=template.description if "description" in fields else None,
                workflow=definition_of(template.workflow) if "workflow" in fields else None,
            )
            return template_pb2.UpdateTemplateResponse(template=stored)

        return await _guard(context, body)

    async def DeleteTemplate(
        self,
        request: template_pb2.DeleteTemplateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> template_pb2.DeleteTemplateResponse:
        async def body() -> template_pb2.DeleteTemplateResponse:
            await self._store.delete(_template_id(request.id))
            return template_pb2.DeleteTemplateResponse()

        return await _guard(context, body)

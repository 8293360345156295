"""Validation of templates (pure). A template's workflow is checked like a CreateWorkflow (same
task types, same field violations, named under `template.workflow`), so a saved template is
deployable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helicase.api.workflows.validation import Limits, SchemaCache, validate_create
from helicase.common import limits as bounds
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import template_pb2, workflow_service_pb2

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
        elif len(name) > bounds.NAME or name != name.strip():
            out.append(
                FieldViolation(
                    "template.name", f"must be 1-{bounds.NAME} characters without outer spaces"
                )
            )
    if "description" in fields:
        out += bounds.too_long("template.description", template.description, bounds.DESCRIPTION)
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

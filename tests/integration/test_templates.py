"""TemplateService: create, list with paging, get, update, delete of workflow templates in
PostgreSQL; bad templates refused with field violations (the workflow checked like
CreateWorkflow) and nothing stored; a template's workflow deploys as is."""

from __future__ import annotations

from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2, json_format

from helicase.client import HelicaseClient
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from helicase.v1 import template_pb2, template_pb2_grpc, workflow_pb2, workflow_service_pb2
from helicase.wire import channel
from tests.integration.helpers import state

WORKFLOW = {"displayName": "tpl", "labels": {"team": "chem"},
            "tasks": [{"id": "a", "type": "noop"},
                      {"id": "b", "type": "shell", "dependsOn": ["a"],
                       "params": {"command": "echo hi"}}]}  # fmt: skip


def template(name: str, workflow: dict[str, Any] | None = None) -> template_pb2.WorkflowTemplate:
    out = template_pb2.WorkflowTemplate(name=name, description="two steps")
    json_format.ParseDict(workflow or WORKFLOW, out.workflow)
    return out


def stored_count(suite: RunningSuite) -> int:
    with psycopg.connect(suite.database_url) as conn:
        row = conn.execute("select count(*) from workflow_templates").fetchone()
    assert row is not None
    return int(row[0])


async def test_template_crud_and_deploy(suite: RunningSuite) -> None:
    async with channel(suite.api_addr, token=suite.token) as chan:
        stub = template_pb2_grpc.TemplateServiceStub(chan)
        names = [f"{suite.namespace}-crud-{i}" for i in range(3)]
        created = [
            (
                await stub.CreateTemplate(template_pb2.CreateTemplateRequest(template=template(n)))
            ).template
            for n in names
        ]
        assert created[0].id and created[0].create_time.seconds > 0
        # Defaults are filled in as CreateWorkflow would (group "default").
        assert created[0].workflow.tasks[1].instance_group == "default"

        first = await stub.ListTemplates(template_pb2.ListTemplatesRequest(page_size=2))
        assert first.next_page_token
        rest = await stub.ListTemplates(
            template_pb2.ListTemplatesRequest(page_size=2, page_token=first.next_page.token)
        )
        listed = [t.name for t in [*first.templates, *rest.templates]]
        assert [n for n in listed if n in names] == names

        renamed = (
            await stub.UpdateTemplate(
                template_pb2.UpdateTemplateRequest(
                    template=template_pb2.WorkflowTemplate(id=created[0].id, name=names[0] + "-v2"),
                    update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                )
            )
        ).template
        assert renamed.name == names[0] + "-v2"
        assert renamed.workflow == created[0].workflow  # not in the mask: unchanged
        got = (await stub.GetTemplate(template_pb2.GetTemplateRequest(id=created[0].id))).template
        assert got == renamed

        await stub.DeleteTemplate(template_pb2.DeleteTemplateRequest(id=created[2].id))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTemplate(template_pb2.GetTemplateRequest(id=created[2].id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        workflow = workflow_pb2.Workflow()
        workflow.CopyFrom(got.workflow)
        launched = await client.create(
            workflow_service_pb2.CreateWorkflowRequest(workflow=workflow)
        )
        done = await client.wait(launched.id, within=60)
        assert state(done) == "COMPLETED"
        assert [t.id for t in done.tasks] == ["a", "b"]


async def test_bad_template_is_refused_with_field_violations(suite: RunningSuite) -> None:
    bad = {"tasks": [{"id": "a", "type": "noop", "dependsOn": ["a2"]},
                     {"id": "a2", "type": "sleep", "dependsOn": ["a"]},
                     {"id": "c", "type": "teleport"}]}  # fmt: skip
    before = stored_count(suite)
    async with channel(suite.api_addr, token=suite.token) as chan:
        stub = template_pb2_grpc.TemplateServiceStub(chan)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateTemplate(
                template_pb2.CreateTemplateRequest(template=template("", bad))
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = {v.field for v in field_violations(err.value)}
        assert "template.name" in fields
        assert "template.workflow.tasks[2].type" in fields
        assert any(f.startswith("template.workflow.tasks[") and "depends_on" in f for f in fields)

        name = f"{suite.namespace}-dup"
        await stub.CreateTemplate(template_pb2.CreateTemplateRequest(template=template(name)))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateTemplate(template_pb2.CreateTemplateRequest(template=template(name)))
        assert [v.field for v in field_violations(err.value)] == ["template.name"]

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.UpdateTemplate(
                template_pb2.UpdateTemplateRequest(
                    template=template_pb2.WorkflowTemplate(
                        id="00000000-0000-0000-0000-000000000000"
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["colour"]),
                )
            )
        assert [v.field for v in field_violations(err.value)] == ["update_mask.paths[0]"]
    assert stored_count(suite) == before + 1

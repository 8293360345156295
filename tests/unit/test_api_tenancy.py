"""The tenant a call runs in (helicase.api.tenancy), what page tokens are bound to, the labels
Helicase reserves, and the credentials a workflow's params name; no database needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from helicase.api import paging, tenancy
from helicase.api.auth.principal import ANY_TENANT, Principal, Role, acting
from helicase.api.tables import workflows
from helicase.api.workflows.references import credential_refs
from helicase.api.workflows.validation import validate_create
from helicase.common.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from helicase.common.tenants import TENANT_METADATA
from helicase.v1 import workflow_pb2, workflow_service_pb2

TENANT = Principal(tenant="chem", subject="key:1", role=Role.VIEWER)
COMPONENT = Principal(tenant=ANY_TENANT, subject="scheduler", role=Role.ADMIN)
TYPES = {"noop": {"type": "object"}}


def test_a_caller_is_confined_to_its_tenant_whatever_tenant_it_names() -> None:
    with acting(TENANT), tenancy.acting_for("bio"):
        assert tenancy.scope() == "chem"
        assert tenancy.owner() == "chem"
        assert [str(c) for c in tenancy.where(workflows)] == ["workflows.tenant = :tenant_1"]
        assert not tenancy.component_call()


def test_a_component_reads_every_tenant_and_creates_only_for_one_it_names() -> None:
    with acting(COMPONENT):
        assert tenancy.scope() is None
        assert tenancy.where(workflows) == []
        assert tenancy.component_call()
        with pytest.raises(FailedPrecondition):
            tenancy.owner()
        with tenancy.acting_for("bio"):
            assert tenancy.owner() == "bio"
            assert len(tenancy.where(workflows)) == 1


def test_no_principal_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        tenancy.scope()


def test_a_token_is_bound_to_its_table_tenant_and_filters() -> None:
    base = paging.listing_digest("workflows", "chem", {"labels": {"a": "1"}, "states": [1]})
    assert base == paging.listing_digest("workflows", "chem", {"states": [1], "labels": {"a": "1"}})
    for other in (
        paging.listing_digest("workflows", "bio", {"labels": {"a": "1"}, "states": [1]}),
        paging.listing_digest("workflows", None, {"labels": {"a": "1"}, "states": [1]}),
        paging.listing_digest("workflows", "chem", {"labels": {"a": "2"}, "states": [1]}),
        paging.listing_digest("workflows", "chem", {"labels": {"a": "1"}, "states": []}),
        paging.listing_digest("schedules", "chem", {"labels": {"a": "1"}, "states": [1]}),
    ):
        assert other != base


def test_page_request_names_each_bad_field() -> None:
    with pytest.raises(InvalidArgument) as info:
        paging.page_request(-1, "garbage")
    assert [v.field for v in info.value.violations] == ["page_size", "page_token"]
    page = paging.page_request(0, paging.encode(["x"], "digest"))
    assert (page.size, page.after, page.made_for) == (paging.DEFAULT_PAGE_SIZE, ("x",), "digest")


def _request(labels: dict[str, str]) -> workflow_service_pb2.CreateWorkflowRequest:
    workflow = workflow_pb2.Workflow(labels=labels, tasks=[workflow_pb2.Task(id="a", type="noop")])
    return workflow_service_pb2.CreateWorkflowRequest(workflow=workflow)


@pytest.mark.parametrize(
    "key", ["helicase-schedule", "helicase-fire-time", "helicase.experiment", "helicase.cleanup"]
)
def test_labels_helicase_sets_are_refused_unless_helicase_creates(key: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_create(_request({key: "x", "team": "chem"}), TYPES)
    assert [v.field for v in info.value.violations] == [f"workflow.labels[{key}]"]
    validate_create(_request({key: "x"}), TYPES, reserved_labels=True)
    validate_create(_request({"helicase": "x", "helicasex": "y"}), TYPES)


def test_credentials_named_anywhere_in_params_are_found() -> None:
    workflow = workflow_pb2.Workflow(tasks=[workflow_pb2.Task(id="a"), workflow_pb2.Task(id="b")])
    workflow.tasks[1].params.update(
        {"compute": {"credential_id": "c1"}, "hops": [{"credential_id": "c2"}], "n": 1}
    )
    assert sorted(credential_refs(workflow)) == [
        ("workflow.tasks[1].params.compute.credential_id", "c1"),
        ("workflow.tasks[1].params.hops[0].credential_id", "c2"),
    ]


class _Details(grpc.HandlerCallDetails):  # type: ignore[misc]
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = "/helicase.v1.WorkflowService/CreateWorkflow"
        self.invocation_metadata = metadata


async def test_helicase_tenant_metadata_names_the_tenant_a_component_acts_for() -> None:
    async def owner_of(request: Any, context: Any) -> str:
        return tenancy.owner()

    async def owners(request: Any, context: Any) -> AsyncIterator[str]:
        yield tenancy.owner()

    async def lookup(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("Watch"):
            return grpc.unary_stream_rpc_method_handler(owners)
        return grpc.unary_unary_rpc_method_handler(owner_of)

    interceptor = tenancy.ActingForInterceptor()
    named = _Details(((TENANT_METADATA, "bio"),))
    handler = await interceptor.intercept_service(lookup, named)
    with acting(COMPONENT):
        assert await handler.unary_unary(None, None) == "bio"
        named.method = "/helicase.v1.WorkflowService/Watch"
        stream = await interceptor.intercept_service(lookup, named)
        assert [o async for o in stream.unary_stream(None, None)] == ["bio"]
        unnamed = await interceptor.intercept_service(lookup, _Details(()))
        with pytest.raises(FailedPrecondition):
            await unnamed.unary_unary(None, None)
    with acting(TENANT):
        assert await handler.unary_unary(None, None) == "chem"

"""Tenants kept apart end to end: two tenants' API keys against a real suite (the api behind its
authentication layer, a controller, a scheduler, the sink and a participant). Tenant A's
workflow is NOT_FOUND to tenant B whether asked for, watched or cancelled, and missing from B's
list; A's credential is NOT_FOUND to B and cannot be named in B's experiment; the same request
id makes one workflow per tenant; the system's reserved labels are refused. (test_tenants.py
covers every kind of stored thing at the data layer.)"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh
import grpc
import pytest

from helicase.api.resources.credentials import new_master_key
from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.states import WS
from helicase.devstack.testing import RunningSuite, SuiteFactory
from helicase.v1 import (
    experiment_pb2,
    experiment_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2,
)
from tests.integration.helpers import client_as


@pytest.fixture(scope="module")
def suite(make_module_suite: SuiteFactory) -> RunningSuite:
    return make_module_suite(extra_env={"HELICASE_CREDENTIAL_KEY": new_master_key()})


def request(request_id: str = "", **task: Any) -> Any:
    body = {"requestId": request_id, "workflow": {"displayName": "t", "tasks": [
        {"id": "a", "type": "sleep", "params": {"seconds": 30}, **task}]}}  # fmt: skip
    return load_workflow_request(body)


async def refused(call: Callable[[], Awaitable[Any]], code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call()
    assert info.value.code() == code, info.value.details()
    return str(info.value.details())


async def test_another_tenants_workflow_is_not_found_got_watched_cancelled_or_listed(
    suite: RunningSuite,
) -> None:
    a_tenant, b_tenant = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    async with client_as(suite, a_tenant) as a, client_as(suite, b_tenant) as b:
        made = await a.create(request())
        nf = grpc.StatusCode.NOT_FOUND
        await refused(lambda: b.get(made.id), nf)
        await refused(lambda: b.cancel(made.id, "not yours"), nf)
        await refused(lambda: _first(b, made.id), nf)
        assert made.id not in {w.id for w in await _all(b)}
        # A's workflow is untouched by B's cancel, and A sees it.
        assert (await a.get(made.id)).state != WS.WORKFLOW_STATE_CANCELED
        assert made.id in {w.id for w in await _all(a)}
        await a.cancel(made.id, "done")


async def test_request_ids_are_per_tenant_and_reserved_labels_refused(
    suite: RunningSuite,
) -> None:
    a_tenant, b_tenant = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    async with client_as(suite, a_tenant) as a, client_as(suite, b_tenant) as b:
        rid = f"same-{uuid.uuid4()}"
        first, again = await a.create(request(rid)), await a.create(request(rid))
        other = await b.create(request(rid))
        assert first.id == again.id and other.id != first.id
        for made, client in ((first, a), (other, b)):
            await client.cancel(made.id, "done")
        labelled = request()
        labelled.workflow.labels["helicase-schedule"] = "forged"
        details = await refused(lambda: a.create(labelled), grpc.StatusCode.INVALID_ARGUMENT)
        assert "helicase-schedule" in details


async def test_another_tenants_credential_is_not_found_and_cannot_be_named(
    suite: RunningSuite,
) -> None:
    a_tenant, b_tenant = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    async with client_as(suite, a_tenant) as a, client_as(suite, b_tenant) as b:
        a_stub = resource_pb2_grpc.ResourceServiceStub(a._channel)
        b_stub = resource_pb2_grpc.ResourceServiceStub(b._channel)
        made = await a_stub.CreateCredential(
            resource_pb2.CreateCredentialRequest(
                credential=resource_pb2.Credential(display_name="a's key", private_key=key)
            )
        )
        cred = made.credential.id
        nf = grpc.StatusCode.NOT_FOUND
        await refused(lambda: b_stub.GetCredential(resource_pb2.GetCredentialRequest(id=cred)), nf)
        listed = await b_stub.ListCredentials(resource_pb2.ListCredentialsRequest())
        assert cred not in {c.id for c in listed.credentials}
        # Named inside B's experiment (with resources of nobody's): NOT_FOUND, as if it did not
        # exist, and nothing stored for B.
        experiments = experiment_pb2_grpc.ExperimentServiceStub(b._channel)
        named = experiment_pb2.Experiment(
            application=experiment_pb2.ApplicationSpec(executable="true"),
            compute_resource_id=str(uuid.uuid4()),
            storage_resource_id=str(uuid.uuid4()),
            credential_id=cred,
        )
        ask = experiment_pb2.CreateExperimentRequest(experiment=named)
        details = await refused(lambda: experiments.CreateExperiment(ask), nf)
        assert "experiment.credential_id" in details
        listed_experiments = await experiments.ListExperiments(
            experiment_pb2.ListExperimentsRequest()
        )
        assert list(listed_experiments.experiments) == [] and await _all(b) == []


async def _first(client: HelicaseClient, workflow_id: str) -> workflow_pb2.Workflow:
    async for workflow in client.watch(workflow_id):
        return workflow
    raise AssertionError("the watch ended without a message")


async def _all(client: HelicaseClient) -> list[workflow_pb2.Workflow]:
    listed = await client.list_workflows(workflow_service_pb2.ListWorkflowsRequest(page_size=500))
    return list(listed.workflows)

"""Tenants kept apart by the api's data layer, against the harness's real PostgreSQL: tenant A's
workflows, schedules, templates, resources, credentials and experiments are NOT_FOUND to tenant B
whether asked for directly, listed, watched, cancelled or named inside a request; page tokens
are bound to their tenant and filters; request ids are per tenant; reserved labels are refused;
a component reads every tenant and creates only for the tenant it names; the internal event
and outbox paths need no tenant. Handlers are called directly, as the principal the
authentication layer would set."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncssh
import psycopg
import pytest
from kazoo.client import KazooClient
from sqlalchemy.ext.asyncio import create_async_engine

from helicase.api import migrations, paging, tenancy
from helicase.api.auth.principal import ANY_TENANT, Principal, Role, acting
from helicase.api.config import ApiConfig, sqlalchemy_url
from helicase.api.events.store import EventStore
from helicase.api.experiments.service import ExperimentService
from helicase.api.experiments.steps import expand
from helicase.api.experiments.store import ExperimentStore
from helicase.api.fairuse.limits import LimitsCache, default_limits
from helicase.api.fairuse.store import LimitsStore
from helicase.api.notify import ChangeNotifier
from helicase.api.outbox.relay import OutboxRelay
from helicase.api.outbox.store import OutboxRow, OutboxStore
from helicase.api.resources.credentials import new_master_key, parse_keyring
from helicase.api.resources.store import ResourceStore
from helicase.api.schedules.store import ScheduleStore
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.templates.store import TemplateStore
from helicase.api.workflows.service import WorkflowService
from helicase.api.workflows.store import WorkflowStore
from helicase.api.workflows.validation import Limits
from helicase.common import cron, events
from helicase.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from helicase.common.kafka import AsyncProducer
from helicase.common.states import WS
from helicase.v1 import (
    experiment_pb2,
    resource_pb2,
    schedule_pb2,
    workflow_pb2,
    workflow_service_pb2,
)
from tests.integration.helpers import migrated_database

A = Principal(tenant="tenant-a", subject="key:a", role=Role.ADMIN)
B = Principal(tenant="tenant-b", subject="key:b", role=Role.ADMIN)
SCHEDULER = Principal(tenant=ANY_TENANT, subject="component:scheduler", role=Role.ADMIN)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
NO_CONTEXT: Any = None  # the handlers called here never touch their gRPC context
EVERYTHING: dict[str, Any] = {"page": paging.Page(50), "labels": {}, "states": [], "full": False}


@dataclass(frozen=True)
class Api:
    workflows: WorkflowStore
    schedules: ScheduleStore
    templates: TemplateStore
    resources: ResourceStore
    experiments: ExperimentStore
    events: EventStore
    outbox: OutboxStore
    workflow_service: WorkflowService
    experiment_service: ExperimentService


@pytest.fixture
async def api(infra: Any) -> AsyncIterator[Api]:
    """The stores and handlers over a database of this test's own (so each listing holds only
    what the test made)."""
    engine = create_async_engine(sqlalchemy_url(migrated_database(infra, "tenants")))
    config = ApiConfig.from_env()
    common = dataclasses.replace(config.common, kafka=f"127.0.0.1:{infra.ports.kafka}")
    producer = AsyncProducer(common)
    zk = KazooClient(hosts=f"127.0.0.1:{infra.ports.zookeeper}")  # never started: no types
    try:
        workflows = WorkflowStore(engine)
        resources = ResourceStore(engine, parse_keyring(new_master_key()))
        experiments = ExperimentStore(engine, workflows)
        relay = OutboxRelay(OutboxStore(engine), producer, timedelta(seconds=1))
        notifier, catalog = ChangeNotifier(), TaskTypeCatalog(zk)
        yield Api(
            workflows=workflows, schedules=ScheduleStore(engine), templates=TemplateStore(engine),
            resources=resources, experiments=experiments, events=EventStore(engine),
            outbox=OutboxStore(engine),
            workflow_service=WorkflowService(
                config, workflows, catalog, relay, notifier, LimitsCache(
                    default_limits(config), LimitsStore(engine).overrides, ttl=5.0
                ),
            ),
            experiment_service=ExperimentService(
                experiments, resources, catalog, relay, notifier, Limits()
            ),
        )  # fmt: skip
    finally:
        producer.close()
        await engine.dispose()


def definition(*, labels: dict[str, str] | None = None, **params: Any) -> workflow_pb2.Workflow:
    out = workflow_pb2.Workflow(id=str(uuid.uuid4()), display_name="w", labels=labels or {})
    task = out.tasks.add(id="a", type="noop", instance_group="default")
    if params:
        task.params.update(params)
    return out


async def as_(who: Principal, call: Callable[[], Any]) -> Any:
    with acting(who):
        return await call()


async def not_found(who: Principal, call: Callable[[], Any]) -> None:
    with acting(who), pytest.raises(NotFound):
        await call()


async def page_token_refused(who: Principal, call: Callable[[], Any]) -> None:
    with acting(who), pytest.raises(InvalidArgument) as info:
        await call()
    assert [v.field for v in info.value.violations] == ["page_token"]


async def register(api: Api) -> dict[str, str]:
    """Tenant A's compute and storage resources and credential."""
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    with acting(A):
        compute = await api.resources.create_compute(
            "", resource_pb2.ComputeResource(
                host="hpc.example", login_user="u", batch_system=resource_pb2.BATCH_SYSTEM_SLURM,
                scratch_root="/scratch", host_key=HOST_KEY,
            ),
        )  # fmt: skip
        storage = await api.resources.create_storage(
            "", resource_pb2.StorageResource(
                host="files.example", login_user="u", root_path="/data", host_key=HOST_KEY
            ),
        )  # fmt: skip
        credential = await api.resources.create_credential(
            "", resource_pb2.Credential(display_name="a's key", private_key=key)
        )
    return {
        "compute_resource_id": compute.id,
        "storage_resource_id": storage.id,
        "credential_id": credential.id,
    }


def naming(ids: dict[str, str]) -> experiment_pb2.Experiment:
    """An experiment running `true` on the resources and with the credential of `ids`."""
    out = experiment_pb2.Experiment(application=experiment_pb2.ApplicationSpec(executable="true"))
    for field, value in ids.items():
        setattr(out, field, value)
    return out


async def watch(api: Api, workflow_id: str) -> list[workflow_service_pb2.WatchWorkflowResponse]:
    request = workflow_service_pb2.WatchWorkflowRequest(id=workflow_id)
    out = []
    async for response in api.workflow_service.WatchWorkflow(request, NO_CONTEXT):
        out.append(response)
        break  # the first snapshot is enough; the stream would run until the terminal state
    return out


async def test_another_tenants_workflow_is_not_found_got_listed_watched_or_cancelled(
    api: Api,
) -> None:
    made, _ = await as_(A, lambda: api.workflows.create_workflow("", definition()))
    wid = uuid.UUID(made.id)
    assert made.tenant == A.tenant
    await not_found(B, lambda: api.workflows.get_workflow(wid, full=True))
    await not_found(B, lambda: api.workflows.cancel_workflow(wid, "not yours"))
    await not_found(B, lambda: watch(api, made.id))
    listed, _ = await as_(B, lambda: api.workflows.list_workflows(**EVERYTHING))
    assert made.id not in {w.id for w in listed}
    # Tenant A still sees it, untouched by B's cancel, and may watch it.
    mine = await as_(A, lambda: api.workflows.get_workflow(wid, full=True))
    assert mine.state == WS.WORKFLOW_STATE_PENDING
    assert [r.workflow.id for r in await as_(A, lambda: watch(api, made.id))] == [made.id]


async def test_another_tenants_schedules_templates_resources_and_experiments_are_not_found(
    api: Api,
) -> None:
    ids = await register(api)
    schedule = schedule_pb2.Schedule(cron="@daily", workflow=definition())
    made = await as_(A, lambda: api.schedules.create("", schedule))
    template = await as_(
        A, lambda: api.templates.create(name="nightly", description="", workflow=definition())
    )
    experiment = naming(ids)
    experiment.id = str(uuid.uuid4())
    compute = await as_(A, lambda: api.resources.get_compute(ids["compute_resource_id"]))
    storage = await as_(A, lambda: api.resources.get_storage(ids["storage_resource_id"]))
    workflow = expand(experiment, experiment.id, compute, storage)
    workflow.id = str(uuid.uuid4())
    stored, _ = await as_(A, lambda: api.experiments.create("", experiment, workflow))
    assert stored.tenant == A.tenant

    # Directly, and every change: NOT_FOUND.
    for call in (
        lambda: api.schedules.get(made.id),
        lambda: api.schedules.set_paused(made.id, True),
        lambda: api.schedules.delete(made.id),
        lambda: api.templates.get(uuid.UUID(template.id)),
        lambda: api.templates.update(uuid.UUID(template.id), description="mine now"),
        lambda: api.templates.delete(uuid.UUID(template.id)),
        lambda: api.resources.get_compute(ids["compute_resource_id"]),
        lambda: api.resources.get_storage(ids["storage_resource_id"]),
        lambda: api.resources.get_credential(ids["credential_id"]),
        lambda: api.experiments.get(experiment.id),
        lambda: api.experiments.cancel(experiment.id, "not yours"),
        lambda: api.workflows.get_workflow(uuid.UUID(stored.workflow_id), full=True),
    ):
        await not_found(B, call)
    assert await as_(B, lambda: api.schedules.recent_runs(made.id)) == []

    # Listed: none of A's.
    page = paging.Page(50)
    listings = {
        "schedules": lambda: api.schedules.list(page=page),
        "templates": lambda: api.templates.list(page=page),
        "compute": lambda: api.resources.list_compute(page),
        "storage": lambda: api.resources.list_storage(page),
        "credentials": lambda: api.resources.list_credentials(page),
        "experiments": lambda: api.experiments.list(page),
    }
    for name, listing in listings.items():
        items, _ = await as_(B, listing)
        assert items == [], name
        mine, _ = await as_(A, listing)
        assert len(mine) >= 1, name
    # A's things are as they were.
    assert not (await as_(A, lambda: api.schedules.get(made.id))).paused
    assert (await as_(A, lambda: api.experiments.get(experiment.id))).id == experiment.id


async def test_another_tenants_resources_cannot_be_named_in_an_experiment_or_a_task(
    api: Api,
) -> None:
    ids = await register(api)
    request = experiment_pb2.CreateExperimentRequest(experiment=naming(ids))
    with acting(B), pytest.raises(NotFound) as info:
        await api.experiment_service.CreateExperiment(request, NO_CONTEXT)
    for field in ids:
        assert f"experiment.{field}" in str(info.value)
    # A task naming A's credential (as an Airavata task's params do) is refused for B...
    named = {"compute": {"host": "hpc.example", "credential_id": ids["credential_id"]}}
    with acting(B), pytest.raises(NotFound) as refused:
        await api.workflows.create_workflow("", definition(**named))
    assert "workflow.tasks[0].params.compute.credential_id" in str(refused.value)
    listed, _ = await as_(B, lambda: api.workflows.list_workflows(**EVERYTHING))
    assert listed == []
    # ... and stored for A, whose credential it is.
    made, created = await as_(A, lambda: api.workflows.create_workflow("", definition(**named)))
    assert created and made.tenant == A.tenant


async def test_page_tokens_are_bound_to_the_tenant_and_the_filters(api: Api) -> None:
    labels = {"team": "chem"}
    for _ in range(3):
        await as_(A, lambda: api.workflows.create_workflow("", definition(labels=labels)))
        await as_(B, lambda: api.workflows.create_workflow("", definition(labels=labels)))

    def listing(page: paging.Page, **filters: Any) -> Callable[[], Any]:
        query: dict[str, Any] = {"labels": labels, "states": [], **filters}
        return lambda: api.workflows.list_workflows(page=page, full=False, **query)

    first, token = await as_(A, listing(paging.Page(2)))
    assert len(first) == 2 and token
    following = paging.page_request(2, token)
    await page_token_refused(A, listing(following, labels={"team": "bio"}))
    await page_token_refused(A, listing(following, states=[WS.WORKFLOW_STATE_PENDING]))
    await page_token_refused(B, listing(following))
    rest, last = await as_(A, listing(following))
    assert len(rest) == 1 and last == ""
    assert {w.tenant for w in first + rest} == {A.tenant}
    assert len({w.id for w in first + rest}) == 3

    # The same holds for every listing, e.g. templates paged by name.
    for name in ("t1", "t2", "t3"):
        for who in (A, B):
            with acting(who):
                await api.templates.create(name=name, description="", workflow=definition())
    names, token = await as_(A, lambda: api.templates.list(page=paging.Page(2)))
    assert [t.name for t in names] == ["t1", "t2"]
    await page_token_refused(B, lambda: api.templates.list(page=paging.page_request(2, token)))
    names, _ = await as_(A, lambda: api.templates.list(page=paging.page_request(2, token)))
    assert [(t.name, t.tenant) for t in names] == [("t3", A.tenant)]


async def test_request_ids_and_template_names_are_per_tenant(api: Api) -> None:
    first, created = await as_(A, lambda: api.workflows.create_workflow("r-1", definition()))
    assert created
    again, created = await as_(A, lambda: api.workflows.create_workflow("r-1", definition()))
    assert not created and again.id == first.id
    other, created = await as_(B, lambda: api.workflows.create_workflow("r-1", definition()))
    assert created and other.id != first.id and other.tenant == B.tenant
    schedule = schedule_pb2.Schedule(cron="@daily", workflow=definition())
    mine = await as_(A, lambda: api.schedules.create("s-1", schedule))
    theirs = await as_(B, lambda: api.schedules.create("s-1", schedule))
    assert mine.id != theirs.id
    assert (await as_(A, lambda: api.schedules.create("s-1", schedule))).id == mine.id

    def make() -> Any:
        return api.templates.create(name="same", description="", workflow=definition())

    assert (await as_(A, make)).id != (await as_(B, make)).id
    with acting(A), pytest.raises(InvalidArgument):
        await make()


async def test_reserved_labels_are_refused_on_create_workflow(api: Api) -> None:
    for key in (cron.SCHEDULE_LABEL, cron.FIRE_TIME_LABEL, "helicase.experiment"):
        request = workflow_service_pb2.CreateWorkflowRequest(
            request_id=f"reserved-{key}", workflow=definition(labels={key: "x"})
        )
        with acting(A), pytest.raises(InvalidArgument) as info:
            await api.workflow_service.CreateWorkflow(request, NO_CONTEXT)
        assert f"workflow.labels[{key}]" in [v.field for v in info.value.violations]
    listed, _ = await as_(A, lambda: api.workflows.list_workflows(**EVERYTHING))
    assert not any(cron.SCHEDULE_LABEL in w.labels for w in listed)


async def test_a_component_reads_every_tenant_and_creates_only_for_the_tenant_it_names(
    api: Api,
) -> None:
    schedule = schedule_pb2.Schedule(cron="@daily", workflow=definition())
    mine = await as_(A, lambda: api.schedules.create("", schedule))
    theirs = await as_(B, lambda: api.schedules.create("", schedule))
    everyone, _ = await as_(SCHEDULER, lambda: api.schedules.list(page=paging.Page(500)))
    assert {(s.id, s.tenant) for s in everyone} >= {(mine.id, A.tenant), (theirs.id, B.tenant)}
    with acting(SCHEDULER), pytest.raises(FailedPrecondition):
        await api.workflows.create_workflow("", definition())
    # The firing of A's schedule: created in A's tenant, with the schedule's labels.
    fired = cron.run_of(schedule.workflow, str(mine.id), datetime.now(UTC))
    fired.id = str(uuid.uuid4())
    with acting(SCHEDULER), tenancy.acting_for(A.tenant):
        run, created = await api.workflows.create_workflow("fire-1", fired)
    assert created and run.tenant == A.tenant
    runs = await as_(A, lambda: api.schedules.recent_runs(mine.id))
    assert [r.workflow_id for r in runs] == [run.id]
    await not_found(B, lambda: api.workflows.get_workflow(uuid.UUID(run.id), full=True))
    # Metadata naming a tenant means nothing from a caller that is not a component.
    with acting(B), tenancy.acting_for(A.tenant):
        await not_found(B, lambda: api.workflows.get_workflow(uuid.UUID(run.id), full=True))


async def test_without_a_principal_the_data_layer_refuses_but_events_and_outbox_flow(
    api: Api,
) -> None:
    made, _ = await as_(A, lambda: api.workflows.create_workflow("", definition()))
    with pytest.raises(Unauthenticated):
        await api.workflows.get_workflow(uuid.UUID(made.id), full=True)
    # The sink's RecordEvents and the outbox relay are internal: no tenant, no principal.
    running = events.workflow_event(
        workflow_id=made.id, state=WS.WORKFLOW_STATE_RUNNING, source="test"
    )
    stored, _ = await api.events.record_events([running])
    assert stored == 1
    published: list[OutboxRow] = []

    async def publish(rows: list[OutboxRow]) -> None:
        published.extend(rows)

    while await api.outbox.publish_outbox(publish):
        pass
    assert made.id in {row.key for row in published}
    after = await as_(A, lambda: api.workflows.get_workflow(uuid.UUID(made.id), full=True))
    assert after.state == WS.WORKFLOW_STATE_RUNNING


async def test_rows_stored_before_tenants_belong_to_demo(infra: Any) -> None:
    url: str = infra.postgres.create_database(f"pretenants{uuid.uuid4().hex[:10]}")
    migrations.upgrade(sqlalchemy_url(url), revision="0006")
    old = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO workflows (id, request_id, display_name, labels, definition, task_count,"
            " state, create_time) VALUES (%s, 'old-1', 'old', '{}', %s, 1, 1, now())",
            (old, definition().SerializeToString()),
        )
    migrations.upgrade(sqlalchemy_url(url))
    demo = Principal(tenant="demo", subject="key:demo", role=Role.ADMIN)
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        store = WorkflowStore(engine)
        found = await as_(demo, lambda: store.get_workflow(old, full=False))
        assert found.tenant == "demo"
        again, created = await as_(demo, lambda: store.create_workflow("old-1", definition()))
        assert not created and again.id == str(old)
        await not_found(A, lambda: store.get_workflow(old, full=False))
        _, created = await as_(A, lambda: store.create_workflow("old-1", definition()))
        assert created
    finally:
        await engine.dispose()

"""`python -m helicase.api`: the public gRPC API over PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from helicase.api import migrations, web
from helicase.api.admin.service import AdminService
from helicase.api.auth import peers
from helicase.api.auth.setup import AuthLayer
from helicase.api.config import ApiConfig
from helicase.api.dead_letters.service import DeadLetterService
from helicase.api.dead_letters.topics import DeadLetterTopics
from helicase.api.errors import ErrorMappingInterceptor
from helicase.api.events.service import EventService
from helicase.api.events.store import EventStore
from helicase.api.experiments.service import ExperimentService
from helicase.api.experiments.store import ExperimentStore
from helicase.api.fairuse.interceptor import FairUseInterceptor
from helicase.api.fairuse.limits import LimitsCache, default_limits
from helicase.api.fairuse.store import LimitsStore
from helicase.api.notify import ChangeNotifier
from helicase.api.outbox.relay import OutboxRelay
from helicase.api.outbox.store import OutboxStore
from helicase.api.participants.service import ParticipantRegistryService
from helicase.api.participants.store import ParticipantLoads
from helicase.api.resources.config import CredentialConfig
from helicase.api.resources.holders import TaskHolders
from helicase.api.resources.service import CredentialSecretService, ResourceService
from helicase.api.resources.store import ResourceStore
from helicase.api.retention.purge import PurgeLoop, Purger, RetentionPolicy
from helicase.api.retention.service import RetentionService
from helicase.api.retention.store import RetentionStore
from helicase.api.schedules.service import ScheduleService
from helicase.api.schedules.store import ScheduleStore
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.api.task_types.service import TaskTypeService
from helicase.api.templates.service import TemplateService
from helicase.api.templates.store import TemplateStore
from helicase.api.tenancy import ActingForInterceptor
from helicase.api.workflows.inline import Budget
from helicase.api.workflows.service import WorkflowService
from helicase.api.workflows.store import WorkflowStore
from helicase.api.workflows.validation import Limits
from helicase.common import kafka, observability, tls, zk
from helicase.common.grpc_server import build_server, run_until_stopped, set_serving
from helicase.common.leader import LeaderWatch
from helicase.internal.v1 import (
    credential_secret_pb2,
    credential_secret_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
)
from helicase.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    dead_letter_pb2,
    dead_letter_pb2_grpc,
    experiment_pb2,
    experiment_pb2_grpc,
    participant_registry_pb2,
    participant_registry_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
    task_type_pb2,
    task_type_pb2_grpc,
    template_pb2,
    template_pb2_grpc,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)

log = logging.getLogger("helicase.api")
STOP_GRACE_SECONDS = 5.0

# The public port: what gateways call.
SERVICES = [
    workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name,
    task_type_pb2.DESCRIPTOR.services_by_name["TaskTypeService"].full_name,
    schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"].full_name,
    participant_registry_pb2.DESCRIPTOR.services_by_name["ParticipantRegistryService"].full_name,
    template_pb2.DESCRIPTOR.services_by_name["TemplateService"].full_name,
    resource_pb2.DESCRIPTOR.services_by_name["ResourceService"].full_name,
    experiment_pb2.DESCRIPTOR.services_by_name["ExperimentService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    dead_letter_pb2.DESCRIPTOR.services_by_name["DeadLetterService"].full_name,
    retention_pb2.DESCRIPTOR.services_by_name["RetentionService"].full_name,
]
# The internal listener (mutual TLS; who may call what: auth/peers.py): event recording,
# credential resolution, and the workflow and schedule calls of the schedulers.
INTERNAL_SERVICES = [
    event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    credential_secret_pb2.DESCRIPTOR.services_by_name["CredentialSecretService"].full_name,
    workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name,
    schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"].full_name,
]


async def serve(config: ApiConfig) -> None:
    if config.migrate:
        await asyncio.to_thread(migrations.upgrade, config.sqlalchemy_url)
    engine = create_async_engine(config.sqlalchemy_url, pool_size=10, max_overflow=20)
    store = WorkflowStore(
        engine, Budget(inline_tasks=config.inline_tasks, answer_bytes=config.answer_bytes)
    )
    zk_client = await asyncio.to_thread(zk.connect, config.common)
    task_types = TaskTypeCatalog(zk_client)
    await asyncio.to_thread(task_types.start)
    await asyncio.to_thread(kafka.ensure_topics, config.common)
    producer = kafka.AsyncProducer(config.common, linger_ms=0)
    relay = OutboxRelay(OutboxStore(engine), producer, config.relay_interval)
    notifier = ChangeNotifier()
    credential_config = CredentialConfig.of(config)
    resources = ResourceStore(engine, credential_config.keyring)
    auth = AuthLayer(config, engine)
    await auth.ensure_platform_admin()

    files = tls.TlsFiles.from_env()
    leader = LeaderWatch(zk_client, asyncio.get_running_loop())
    await asyncio.to_thread(leader.start)
    holders = TaskHolders(leader, files)
    limits_store = LimitsStore(engine)
    tenant_limits = LimitsCache(
        default_limits(config),
        limits_store.overrides,
        ttl=config.tenant_limits_cache.total_seconds(),
    )
    workflows = WorkflowService(config, store, task_types, relay, notifier, tenant_limits)
    schedules = ScheduleService(ScheduleStore(engine), task_types, config.max_tasks)
    purger = Purger(RetentionStore(engine), RetentionPolicy.of(config))
    purge_loop = PurgeLoop(purger, config.retention_interval)

    def register(server: object) -> None:
        workflow_service_pb2_grpc.add_WorkflowServiceServicer_to_server(workflows, server)
        task_type_pb2_grpc.add_TaskTypeServiceServicer_to_server(
            TaskTypeService(task_types), server
        )
        schedule_pb2_grpc.add_ScheduleServiceServicer_to_server(schedules, server)
        participant_registry_pb2_grpc.add_ParticipantRegistryServiceServicer_to_server(
            ParticipantRegistryService(task_types, ParticipantLoads(engine)), server
        )
        template_pb2_grpc.add_TemplateServiceServicer_to_server(
            TemplateService(TemplateStore(engine), task_types, config.max_tasks), server
        )
        resource_pb2_grpc.add_ResourceServiceServicer_to_server(ResourceService(resources), server)
        experiment_pb2_grpc.add_ExperimentServiceServicer_to_server(
            ExperimentService(
                ExperimentStore(engine, store), resources, task_types, relay, notifier,
                Limits(max_tasks=config.max_tasks),
            ),
            server,
        )  # fmt: skip
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminService(auth.store, auth.audit, auth.authenticator, (limits_store, tenant_limits)),
            server,
        )
        dead_letter_pb2_grpc.add_DeadLetterServiceServicer_to_server(
            DeadLetterService(
                DeadLetterTopics(config.common), producer, config.common.topic_prefix
            ),
            server,
        )
        retention_pb2_grpc.add_RetentionServiceServicer_to_server(RetentionService(purger), server)

    def register_internal(server: object) -> None:
        event_pb2_grpc.add_EventServiceServicer_to_server(
            EventService(EventStore(engine), notifier), server
        )
        credential_secret_pb2_grpc.add_CredentialSecretServiceServicer_to_server(
            CredentialSecretService(resources, holders, auth.audit), server
        )
        workflow_service_pb2_grpc.add_WorkflowServiceServicer_to_server(workflows, server)
        schedule_pb2_grpc.add_ScheduleServiceServicer_to_server(schedules, server)

    # Public port: handlers raise, and one interceptor maps what they raise to gRPC statuses;
    # inside it, every call but health and reflection is authenticated and checked against the
    # policy table (auth.interceptor, which raises like a handler), counted against its tenant's
    # fair-use limits (FairUseInterceptor), then scoped to its tenant.
    # The HTTP port forwards to this server, so its calls pass all three. The internal listener
    # takes components by their certificates (auth.peers) instead.
    server, port, health = build_server(
        config.listen,
        register,
        SERVICES,
        interceptors=[
            ErrorMappingInterceptor(admit=auth.interceptor.admit),
            auth.interceptor,
            FairUseInterceptor(tenant_limits),
            ActingForInterceptor(),
        ],
    )
    internal, _, internal_health = build_server(
        config.internal_listen,
        register_internal,
        INTERNAL_SERVICES,
        interceptors=[peers.interceptor(), ErrorMappingInterceptor(), ActingForInterceptor()],
        credentials=files.server_credentials(),
    )
    await internal.start()
    relay.start()
    purge_loop.start()
    web_server = await _start_web(config, port, engine)
    await set_serving(health, SERVICES, True)
    await set_serving(internal_health, INTERNAL_SERVICES, True)
    log.info(
        "api serving",
        extra={"addr": config.listen, "port": port, "internal": config.internal_listen},
    )

    async def on_stop() -> None:
        await set_serving(health, SERVICES, False)
        await set_serving(internal_health, INTERNAL_SERVICES, False)
        if web_server is not None:
            await web_server.stop()
        # In-flight calls (and open watches) finish before the pool they read from goes away.
        await asyncio.gather(server.stop(STOP_GRACE_SECONDS), internal.stop(STOP_GRACE_SECONDS))
        await holders.close()
        await relay.stop()
        await purge_loop.stop()
        await asyncio.to_thread(producer.close)
        await engine.dispose()
        await asyncio.to_thread(zk_client.stop)
        zk_client.close()

    await run_until_stopped(server, on_stop=on_stop)


# --- the composer's HTTP port (helicase.api.web): the public services over Connect -------------
WEB_SERVICES = [
    workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"],
    task_type_pb2.DESCRIPTOR.services_by_name["TaskTypeService"],
    template_pb2.DESCRIPTOR.services_by_name["TemplateService"],
]


async def _start_web(
    config: ApiConfig, grpc_port: int, engine: AsyncEngine
) -> web.WebServer | None:
    if config.web_listen.lower() == "off":
        return None
    target = web.grpc_target(config.listen, grpc_port)
    settings = web.WebSettings(
        allowed_hosts=config.web_allowed_hosts,
        session_ttl=config.web_session_ttl,
        secure_cookie=config.web_secure_cookie,
    )
    return await web.start(
        config.web_listen, target, WEB_SERVICES, engine, settings,
        web.default_dist(config.web_dist),
    )  # fmt: skip


def main() -> None:
    observability.setup("api")
    asyncio.run(serve(ApiConfig.from_env()))


if __name__ == "__main__":
    main()

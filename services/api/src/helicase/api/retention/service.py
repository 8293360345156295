"""RetentionService's handler: checks the request (validation), picks the scope the caller may
purge (its own tenant; a platform admin any tenant or all), runs the purge or counts it."""

from __future__ import annotations

from datetime import UTC, datetime

from helicase.api.admin.validation import tenant_in_reach
from helicase.api.auth import principal as principals
from helicase.api.errors import Context
from helicase.api.retention.purge import Purger, Scope
from helicase.api.retention.store import Counts
from helicase.api.retention.validation import age_of
from helicase.common.errors import FailedPrecondition
from helicase.v1 import retention_pb2, retention_pb2_grpc


class RetentionService(retention_pb2_grpc.RetentionServiceServicer):
    def __init__(self, purger: Purger) -> None:
        self._purger = purger

    async def PurgeWorkflows(
        self, request: retention_pb2.PurgeWorkflowsRequest, context: Context
    ) -> retention_pb2.PurgeWorkflowsResponse:
        age = age_of(request, self._purger.policy.ttl)
        caller = principals.current()
        tenant: str | None = tenant_in_reach(caller, request.tenant_id)
        if caller.platform_admin and not request.tenant_id:
            tenant = None  # every tenant
        scope = Scope(datetime.now(UTC) - age, tenant)
        if request.dry_run:
            counts = await self._purger.count(scope)
        else:
            done = await self._purger.purge(scope)
            if done is None:
                raise FailedPrecondition("another purge is running; try again later")
            counts = done
        return _response(counts, dry_run=request.dry_run)


def _response(counts: Counts, *, dry_run: bool) -> retention_pb2.PurgeWorkflowsResponse:
    return retention_pb2.PurgeWorkflowsResponse(
        purge_count=counts.workflows,
        tasks=counts.tasks,
        events=counts.events,
        outbox_rows=counts.outbox_rows,
        purge_sample=counts.sample or [],
        dry_run=dry_run,
    )

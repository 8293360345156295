"""The audit trail: who did what to which resource, when, with which result.

The auth interceptor writes one event for every mutating call (policy.Rule.mutation); other code
records what it does on a principal's behalf with `AuditLog.record` (e.g. a credential resolved
for a participant: action "credential.resolve", resource "credential/<id>").
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import paging
from helicase.api.auth.principal import Principal
from helicase.api.convert import ts
from helicase.api.tables import audit_events
from helicase.common import limits as bounds
from helicase.v1 import admin_pb2

log = logging.getLogger(__name__)
RESOURCE_CHARS = 1_024  # of an audit event's resource


def audit_message(row: RowMapping) -> admin_pb2.AuditEvent:
    return admin_pb2.AuditEvent(
        id=str(row["id"]), tenant_id=row["tenant_id"], subject=row["subject"],
        action=row["action"], resource=row["resource"], result=row["result"],
        create_time=ts(row["create_time"]),
    )  # fmt: skip


class AuditLog:
    """Audit events in PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # One statement per event: in autocommit it is one round trip to PostgreSQL, not three
        # (BEGIN, INSERT, COMMIT); every mutating call waits for it before its answer goes out.
        self._writer = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def record(
        self, principal: Principal, action: str, resource: str = "", result: str = "OK"
    ) -> None:
        """Writes one audit event in `principal`'s tenant. A failure to write is logged, not
        raised: the action it records has already happened. `resource` may come from the
        request (a refused one too): a NUL, which PostgreSQL cannot store, becomes U+FFFD, and
        it is cut at 1,024 characters."""
        resource = bounds.truncate(resource.replace("\x00", "\ufffd"), RESOURCE_CHARS)
        try:
            async with self._writer.connect() as conn:
                await conn.execute(
                    audit_events.insert().values(
                        id=uuid.uuid4(), tenant_id=principal.tenant, subject=principal.subject,
                        action=action, resource=resource, result=result,
                        create_time=datetime.now(UTC),
                    )
                )  # fmt: skip
        except Exception:
            log.exception(
                "audit event not written",
                extra={"tenant": principal.tenant, "action": action, "resource": resource},
            )

    async def list(
        self, tenant: str | None, page: paging.Page
    ) -> tuple[list[admin_pb2.AuditEvent], str]:
        """A page of events, newest first: of `tenant`, or of every tenant when None."""
        async with self._engine.connect() as conn:
            kept, token = await paging.list_page(
                conn, select(audit_events), audit_events, page,
                key=(audit_events.c.create_time, audit_events.c.id),
                within=(audit_events.c.tenant_id, tenant),
            )  # fmt: skip
        return [audit_message(row._mapping) for row in kept], token

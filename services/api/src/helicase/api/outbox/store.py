"""The outbox's SQL: commands queued in the transaction that decided them, published by the
relay (helicase.api.outbox.relay) at least once, in id order."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helicase.api.tables import outbox
from helicase.common import events as ev
from helicase.common import topics, tracing
from helicase.internal.v1 import command_pb2


class OutboxRow(NamedTuple):
    topic: str
    key: str
    payload: bytes
    trace_context: str | None  # W3C traceparent of the request that wrote it


async def queue_command(conn: AsyncConnection, workflow_id: str, **kind: Any) -> None:
    """Queues a Command (`launch=` or `cancel=`) for `workflow_id` in `conn`'s transaction, with
    the current request's trace context."""
    payload = command_pb2.Command(
        command_id=str(uuid.uuid4()), workflow_id=workflow_id, time=ev.timestamp(), **kind
    ).SerializeToString()
    await conn.execute(
        outbox.insert().values(
            topic=topics.COMMANDS, key=workflow_id, payload=payload,
            trace_context=tracing.inject().get("traceparent"),
        )
    )  # fmt: skip


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def publish_outbox(
        self, publish: Callable[[list[OutboxRow]], Awaitable[None]], limit: int = 500
    ) -> int:
        """Publishes the oldest unpublished outbox rows with `publish`, then marks them, in one
        transaction (rows locked with SKIP LOCKED, so several apis can relay)."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        outbox.c.id,
                        outbox.c.topic,
                        outbox.c.key,
                        outbox.c.payload,
                        outbox.c.trace_context,
                    )
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await publish([OutboxRow(r.topic, r.key, r.payload, r.trace_context) for r in rows])
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=func.now())
            )
        return len(rows)

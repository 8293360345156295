"""The outbox relay: publishes stored commands to Kafka, at least once, in id order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from helicase.api.outbox.store import OutboxRow, OutboxStore
from helicase.common.kafka import AsyncProducer

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: OutboxStore, producer: AsyncProducer, interval: timedelta) -> None:
        self._store = store
        self._producer = producer
        self._interval = interval.total_seconds()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a transaction that wrote an outbox row committed."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _publish(self, rows: list[OutboxRow]) -> None:
        # Per topic, in id order; each message keyed by workflow id keeps per-workflow order.
        # The request's trace context travels as the message's `traceparent` header.
        futures = [
            self._producer.send_nowait(
                row.topic,
                row.key,
                row.payload,
                headers=[("traceparent", row.trace_context.encode())]
                if row.trace_context
                else None,
            )
            for row in rows
        ]
        await asyncio.gather(*futures)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            self._wake.clear()
            try:
                published = await self._store.publish_outbox(self._publish)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if published:
                log.debug("outbox published", extra={"count": published})
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)

"""The purge: batches of RetentionStore.purge_batch, each archived first, until nothing older
than the cutoff is left; one purger at a time across api replicas (a PostgreSQL advisory lock,
held by a connection of its own for the whole pass). `PurgeLoop` runs it every interval for
every tenant; RetentionService runs it on request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helicase.api.config import ApiConfig
from helicase.api.retention.archive import ArchivedWorkflow, append_fsynced
from helicase.api.retention.store import PURGE_LOCK_KEY, Counts, RetentionStore
from helicase.common.errors import FailedPrecondition

log = logging.getLogger(__name__)
LOCK_WAIT = "30s"


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    ttl: timedelta  # 0: nothing is ever purged
    batch: int
    archive_dir: Path

    @classmethod
    def of(cls, config: ApiConfig) -> RetentionPolicy:
        return cls(
            ttl=config.retention_ttl,
            batch=config.retention_batch,
            archive_dir=Path(config.retention_archive_dir),
        )


@dataclass(frozen=True)
class Scope:
    """What one purge covers: the workflows finished before `cutoff`, of `tenant` (None: every
    tenant, and then relayed outbox rows too)."""

    cutoff: datetime
    tenant: str | None

    @property
    def outbox_too(self) -> bool:
        return self.tenant is None


class Purger:
    def __init__(self, store: RetentionStore, policy: RetentionPolicy) -> None:
        self.store = store
        self.policy = policy

    async def count(self, scope: Scope) -> Counts:
        return await self.store.count(scope.cutoff, scope.tenant, outbox_too=scope.outbox_too)

    async def purge(self, scope: Scope, *, wait: bool = True) -> Counts | None:
        """Purges everything in `scope`; None if another purger holds the lock and `wait` is
        false (with `wait`, FailedPrecondition after LOCK_WAIT)."""
        async with self._exclusive(wait=wait) as held:
            if not held:
                return None
            return await self._purge_held(scope)

    async def _purge_held(self, scope: Scope) -> Counts:
        total = Counts(sample=[])
        while True:
            done = await self.store.purge_batch(
                scope.cutoff, scope.tenant, self.policy.batch, self._export
            )
            total.add(done)
            if done.workflows < self.policy.batch:
                break
        while scope.outbox_too:
            removed = await self.store.purge_outbox_batch(scope.cutoff, self.policy.batch * 20)
            total.outbox_rows += removed
            if removed == 0:
                break
        return total

    async def _export(self, documents: Sequence[ArchivedWorkflow]) -> None:
        await asyncio.to_thread(append_fsynced, self.policy.archive_dir, documents)

    @contextlib.asynccontextmanager
    async def _exclusive(self, *, wait: bool) -> AsyncIterator[bool]:
        async with self.store.engine.connect() as conn:
            if wait:
                # LOCAL: ends with this transaction, not left on the pooled connection.
                await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
                try:
                    await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PURGE_LOCK_KEY})
                except DBAPIError as exc:  # lock_timeout: another purge runs long
                    raise FailedPrecondition("another purge is running; try again later") from exc
                held = True
            else:
                held = bool(
                    await conn.scalar(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": PURGE_LOCK_KEY}
                    )
                )
            await conn.commit()
            try:
                yield held
            finally:
                if held:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PURGE_LOCK_KEY})
                    await conn.commit()


class PurgeLoop:
    """Every `interval`, purges every tenant's workflows older than the TTL, unless another
    replica's purge holds the lock (it skips that pass)."""

    def __init__(self, purger: Purger, interval: timedelta) -> None:
        self._purger = purger
        self._interval = interval.total_seconds()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._purger.policy.ttl > timedelta(0):
            self._task = asyncio.create_task(self._run(), name="retention-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            scope = Scope(datetime.now(UTC) - self._purger.policy.ttl, None)
            try:
                done = await self._purger.purge(scope, wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention purge failed; nothing of its failed batch was deleted")
                continue
            if done is not None and (done.workflows or done.outbox_rows):
                log.info(
                    "retention purge",
                    extra={
                        "workflows": done.workflows, "tasks": done.tasks, "events": done.events,
                        "outbox_rows": done.outbox_rows,
                    },
                )  # fmt: skip

"""Benchmark of the retention purge on its own PostgreSQL (no services): N finished workflows
(5 tasks, 15 events each, ended 40 days ago) are archived and purged in batches while another
process inserts workflows (1 workflow, 5 tasks, 5 events per transaction, every 10 ms); the
insert latency is measured idle and during the purge.

    uv run python -m bench.retention_purge [--workflows 2000] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventFlag
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from helicase.api import migrations
from helicase.api.config import sqlalchemy_url
from helicase.api.retention.purge import Purger, RetentionPolicy, Scope
from helicase.api.retention.store import RetentionStore
from helicase.devstack._infra import InfraPorts
from helicase.devstack._postgres import Postgres
from helicase.devstack.testing import new_home, remove_home
from helicase.internal.v1 import event_pb2
from helicase.v1 import workflow_pb2

TASKS = 5
DEFINITION = workflow_pb2.Workflow(
    display_name="w", tasks=[workflow_pb2.Task(id=f"t{i}", type="noop") for i in range(TASKS)]
).SerializeToString()
EVENT = event_pb2.Event(event_id="bench").SerializeToString()


def insert(conn: psycopg.Connection[Any], count: int, ended: datetime | None) -> None:
    """`count` workflows: finished at `ended` (15 events each), or running (5 events)."""
    state = workflow_pb2.WORKFLOW_STATE_COMPLETED if ended else workflow_pb2.WORKFLOW_STATE_RUNNING
    with conn.cursor() as cur:
        for _ in range(count):
            wid = uuid.uuid4()
            cur.execute(
                "INSERT INTO workflows (id, tenant, display_name, labels, definition, task_count,"
                " state, create_time, end_time) VALUES (%s, 'bench', 'w', '{}', %s, %s, %s,"
                " now(), %s)",
                (wid, DEFINITION, TASKS, state, ended),
            )
            cur.executemany(
                "INSERT INTO tasks (workflow_id, task_id, ordinal, type, instance_group, state)"
                " VALUES (%s, %s, %s, 'noop', 'default', 1)",
                [(wid, f"t{i}", i) for i in range(TASKS)],
            )
            cur.executemany(
                "INSERT INTO events (event_id, workflow_id, time, source, payload)"
                " VALUES (%s, %s, now(), 'bench', %s)",
                [(str(uuid.uuid4()), wid, EVENT) for _ in range(15 if ended else 5)],
            )


def writer(url: str, stop: EventFlag, out: Queue[Any]) -> None:
    """Inserts one running workflow per transaction until `stop`; puts its latencies (ms)."""
    latencies: list[float] = []
    with psycopg.connect(url) as conn:
        out.put("ready")
        while not stop.is_set():
            start = time.perf_counter()
            insert(conn, 1, None)
            conn.commit()
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.01)
    out.put(latencies)


class Writer:
    """The writer in a process of its own (so the purge's work does not slow it in-process)."""

    def __init__(self, url: str) -> None:
        ctx = mp.get_context("spawn")
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=writer, args=(url, self._stop, self._out))
        self._proc.start()
        assert self._out.get(timeout=120) == "ready"

    def finish(self) -> list[float]:
        self._stop.set()
        latencies: list[float] = self._out.get(timeout=60)
        self._proc.join()
        return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
    return (
        f"median {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms,"
        f" max {ordered[-1]:.1f} ms (n={len(ordered)})"
    )


async def measure(url: str, archive: Any, workflows: int, batch: int) -> None:
    with psycopg.connect(url) as conn:
        insert(conn, workflows, datetime.now(UTC) - timedelta(days=40))
    engine = create_async_engine(sqlalchemy_url(url))
    policy = RetentionPolicy(ttl=timedelta(days=30), batch=batch, archive_dir=archive)
    purger = Purger(RetentionStore(engine), policy)
    idle = Writer(url)
    await asyncio.sleep(6)
    idle_latencies = idle.finish()
    busy = Writer(url)
    start = time.perf_counter()
    done = await purger.purge(Scope(datetime.now(UTC) - policy.ttl, None))
    took = time.perf_counter() - start
    busy_latencies = busy.finish()
    await engine.dispose()
    assert done is not None
    size = sum(p.stat().st_size for p in archive.rglob("*.jsonl"))
    print(
        f"purged {done.workflows} workflows, {done.tasks} tasks, {done.events} events in"
        f" {took:.1f} s (batch {batch}); archive {size / 1e6:.1f} MB"
    )
    print(f"insert latency, idle:          {summary(idle_latencies)}")
    print(f"insert latency, while purging: {summary(busy_latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    home = new_home("helicase-bench-retention-")
    postgres = Postgres(home, InfraPorts.free().postgres, durable=True)
    try:
        postgres.start()
        postgres.wait_ready(120)
        url = postgres.create_database("bench")
        migrations.upgrade(sqlalchemy_url(url))
        asyncio.run(measure(url, home / "archive", args.workflows, args.batch))
    finally:
        postgres.stop()
        remove_home(home)


if __name__ == "__main__":
    main()

"""Measures the api's cost of RecordEvents: CPU time of this (api) process and wall time per 1,000
events folded into the projections in PostgreSQL.

Starts its own PostgreSQL (fsync off) on a free loopback port in a fresh home (the devstack
component the test harness uses), runs the api's migrations, creates workflows of noop tasks
through the api's WorkflowStore, then records (EventStore) for every task the events of a run --
ASSIGNED, RUNNING, COMPLETED (with outputs), and the controller's copy of COMPLETED (same event
id, a duplicate) -- in batches as the sink sends them, tasks overlapping as in a run. A warm-up
workflow is recorded first and not counted. PostgreSQL's CPU (the postmaster and its backends)
is printed apart.

uv run python bench/record_events.py [--tasks 5000] [--workflow-size 1000] [--batch 200]"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Iterator

import psutil
from google.protobuf import struct_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from helicase.api import migrations
from helicase.api.auth.principal import Principal, Role, acting
from helicase.api.config import sqlalchemy_url
from helicase.api.events.store import EventStore
from helicase.api.workflows.store import WorkflowStore
from helicase.common import events
from helicase.common.states import TS
from helicase.devstack import Postgres, free_port
from helicase.devstack.testing import new_home, remove_home
from helicase.internal.v1 import event_pb2
from helicase.v1 import workflow_pb2

LAG = 40  # tasks between one task's ASSIGNED and its RUNNING (and again to COMPLETED)


def definition(size: int) -> workflow_pb2.Workflow:
    tasks = [
        workflow_pb2.Task(id=f"t{i:05d}", type="noop", instance_group="default")
        for i in range(size)
    ]
    return workflow_pb2.Workflow(id=str(uuid.uuid4()), display_name="bench", tasks=tasks)


def run_events(workflow: workflow_pb2.Workflow) -> Iterator[event_pb2.Event]:
    """The events of one run of `workflow`, in the order a sink would see them."""
    outputs = struct_pb2.Struct()
    outputs.update({"ok": True, "note": "café ✓"})

    def task(index: int, state: int, **kw: object) -> event_pb2.Event:
        return events.task_event(
            workflow_id=workflow.id, task_id=workflow.tasks[index].id, attempt=1, placement=1,
            state=state, source="bench", participant=f"p{index % 4}", **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    count = len(workflow.tasks)
    for step in range(count + 3 * LAG):
        if step < count:
            yield task(step, TS.TASK_STATE_ASSIGNED)
        if 0 <= step - LAG < count:
            yield task(step - LAG, TS.TASK_STATE_RUNNING)
        if 0 <= step - 2 * LAG < count:
            yield task(step - 2 * LAG, TS.TASK_STATE_COMPLETED, outputs=outputs)
        if 0 <= step - 3 * LAG < count:  # the controller's copy of the terminal event
            yield task(step - 3 * LAG, TS.TASK_STATE_COMPLETED, outputs=outputs)


def batches(stream: Iterator[event_pb2.Event], size: int) -> list[list[event_pb2.Event]]:
    out: list[list[event_pb2.Event]] = [[]]
    for event in stream:
        if len(out[-1]) == size:
            out.append([])
        out[-1].append(event)
    return out


async def prepare(
    store: WorkflowStore, workflow_size: int, count: int, batch: int
) -> list[list[event_pb2.Event]]:
    """Creates `count` workflows of `workflow_size` tasks; returns the batches of their runs."""
    work: list[list[event_pb2.Event]] = []
    with acting(Principal(tenant="demo", subject="bench", role=Role.SUBMITTER)):
        for _ in range(count):
            made, _ = await store.create_workflow(str(uuid.uuid4()), definition(workflow_size))
            work.extend(batches(run_events(made), batch))
    return work


async def send(store: EventStore, work: list[list[event_pb2.Event]]) -> tuple[int, int]:
    """Records every batch; returns (events sent, events stored)."""
    sent = stored = 0
    for events_batch in work:
        got, _ = await store.record_events(events_batch)
        sent += len(events_batch)
        stored += got
    return sent, stored


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live children (PostgreSQL: the postmaster and backends)."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def measure(url: str, postmaster: int, tasks: int, workflow_size: int, batch: int) -> None:
    engine = create_async_engine(sqlalchemy_url(url), pool_size=4)
    workflows, events = WorkflowStore(engine), EventStore(engine)
    try:
        await send(events, await prepare(workflows, min(workflow_size, 200), 1, batch))  # warm-up
        work = await prepare(workflows, workflow_size, max(1, tasks // workflow_size), batch)
        db, cpu, wall = tree_cpu(postmaster), time.process_time(), time.perf_counter()
        sent, stored = await send(events, work)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        db = tree_cpu(postmaster) - db  # the pool's connections are still open
    finally:
        await engine.dispose()
    print(f"events sent {sent}, stored {stored}, in {len(work)} batches of <= {batch}")
    print(f"api CPU  {cpu:.3f} s, {1000 * cpu / sent * 1000:.1f} ms per 1,000 events")
    print(f"wall     {wall:.3f} s, {1000 * wall / sent * 1000:.1f} ms per 1,000 events")
    print(f"PostgreSQL CPU {db:.3f} s, {1000 * db / sent * 1000:.1f} ms per 1,000 events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="tasks in all (default 5000)")
    parser.add_argument("--workflow-size", type=int, default=1000, help="tasks per workflow")
    parser.add_argument("--batch", type=int, default=200, help="events per RecordEvents call")
    args = parser.parse_args()
    home = new_home("helicase-bench-events-")
    postgres = Postgres(home, free_port(), durable=False)
    try:
        postgres.start()
        postgres.wait_ready()
        url = postgres.create_database("bench_events")
        migrations.upgrade(sqlalchemy_url(url))
        postmaster = postgres.pid
        assert postmaster is not None
        asyncio.run(measure(url, postmaster, args.tasks, args.workflow_size, args.batch))
    finally:
        try:
            postgres.stop()
        finally:
            remove_home(home)


if __name__ == "__main__":
    main()

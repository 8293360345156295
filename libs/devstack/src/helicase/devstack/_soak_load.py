"""The soak's load on a running suite: workflows of the mix at a given rate from several
tenants, single-task latency probes, readers (ListWorkflows, GetWorkflow, WatchWorkflow),
every-minute schedules, and a monitor of the backlog (workflows not terminal yet). It is the
chaos driver without the killing: the same shapes, creates, cancels, final wait and checks."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
from google.protobuf import json_format

from helicase.client import HelicaseClient
from helicase.common import cron
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.devstack._chaos_model import Submitted
from helicase.devstack._soak_model import SoakOptions
from helicase.devstack.chaos import Chaos
from helicase.devstack.testing import RunningSuite
from helicase.v1 import schedule_pb2, workflow_pb2, workflow_service_pb2

BROKEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS)
"""Answers a reader must never get: a bug, not a state of the system."""

Issued = tuple[Submitted, "asyncio.Task[None]"]
"""A workflow of the load and the task creating it."""

SCHEDULED = {"displayName": "soak schedule", "tasks": [{"id": "tick", "type": "noop"}]}


class Soak(Chaos):
    """Submits, reads and probes; `submitted` gathers every workflow for the chaos checks."""

    label = "soak"

    def __init__(self, options: SoakOptions, suite: RunningSuite, ledger: Path, markers: Path):
        super().__init__(options.chaos, suite, ledger, markers)
        self.soak = options
        self.mix_rng = random.Random(options.chaos.seed + 2)
        self.read_rng = random.Random(options.chaos.seed + 3)
        self.clients: dict[str, HelicaseClient] = {}
        self.create_ms: list[tuple[float, float]] = []  # (when, create call latency)
        self.probe_ms: list[tuple[float, float]] = []  # (when, submit -> COMPLETED)
        self.backlog: list[tuple[float, int, int]] = []  # (when, not terminal, terminal)
        self.reads: Counter[str] = Counter()
        self.broken_reads: list[str] = []
        self.schedule_ids: dict[str, list[str]] = {}
        self._inflight: set[asyncio.Task[None]] = set()  # creates (and their cancels)
        self._loops: list[asyncio.Task[None]] = []  # probes, monitor, readers

    # --- clients

    async def open(self) -> None:
        for tenant in self.soak.mix.tenants:
            token = await asyncio.to_thread(self.suite.issue_key, tenant, "admin")
            self.clients[tenant] = HelicaseClient(self.suite.api_addr, token=token, timeout=30)
        self.log(f"tenants {', '.join(self.clients)}: an admin key each")

    async def close(self) -> None:
        self.stop_background()
        for task in self._inflight:
            task.cancel()
        for client in self.clients.values():
            await client.close()
        self.killer.close()

    # --- workflows

    def _new(self, kind: str, tenant: str) -> tuple[Submitted, list[dict[str, Any]]]:
        index = len(self.submitted)
        if kind == "probe":
            tasks: list[dict[str, Any]] = [{"id": "probe", "type": "noop"}]
        else:
            tasks = getattr(self.shapes, kind)()
        item = Submitted(
            index=index,
            kind=kind,
            request_id=f"soak-{self.suite.namespace}-{index}",
            task_ids=[t["id"] for t in tasks],
            tenant=tenant,
        )
        self.submitted.append(item)
        return item, tasks

    async def _submit_timed(self, item: Submitted, tasks: list[dict[str, Any]]) -> None:
        began = time.monotonic()
        await self.submit(self.clients[item.tenant], item, tasks)
        if item.workflow_id:
            self.create_ms.append((time.monotonic(), (time.monotonic() - began) * 1000))

    async def load(self, rate: float, seconds: float) -> list[Issued]:
        """Submits workflows of the mix at `rate` per second for `seconds` (at most 32 creates
        in flight: a slow api lowers the rate, which the ramp sees); returns them. Creates still
        in flight at the end go on in the background."""
        issued: list[Issued] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        gate = asyncio.Semaphore(32)
        count = max(1, int(rate * seconds))
        for k in range(count):
            await asyncio.sleep(max(0.0, start + k / rate - loop.time()))
            if loop.time() > start + seconds:
                break
            await gate.acquire()
            item, tasks = self._new(
                self.soak.mix.kind(self.mix_rng), self.soak.mix.tenant(len(self.submitted))
            )
            task = asyncio.create_task(self._submit_timed(item, tasks))
            task.add_done_callback(lambda _: gate.release())
            self._keep(task)
            issued.append((item, task))
        await asyncio.sleep(max(0.0, start + seconds - loop.time()))
        return issued

    @staticmethod
    async def accepted(issued: list[Issued], grace: float = 10.0) -> int:
        """How many of the workflows `issued` the api accepted, their creates (and cancels)
        given `grace` seconds to end."""
        if issued:
            await asyncio.wait([task for _, task in issued], timeout=grace)
        return sum(1 for item, _ in issued if item.workflow_id)

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def settle(self) -> None:
        """Waits for the creates (and their cancels) still in flight."""
        await asyncio.gather(*list(self._inflight), return_exceptions=True)

    # --- background loops

    async def probes(self) -> None:
        """A single-task (noop) workflow every probe_interval seconds; its submit-to-COMPLETED
        time as GetWorkflow shows it."""
        tenant = self.soak.mix.tenants[0]
        while True:
            item, tasks = self._new("probe", tenant)
            began = time.monotonic()
            await self.submit(self.clients[tenant], item, tasks)
            if item.workflow_id:
                try:
                    await self.clients[tenant].wait(item.workflow_id, within=120, poll=0.02)
                    self.probe_ms.append((time.monotonic(), (time.monotonic() - began) * 1000))
                except (TimeoutError, grpc.aio.AioRpcError) as exc:
                    self.log(f"probe {item.workflow_id}: {exc!r}")
            await asyncio.sleep(self.soak.probe_interval)

    async def monitor(self) -> None:
        """Every 2 s: how many workflows are not terminal yet, and how many are, in PostgreSQL."""
        terminal = sorted(WORKFLOW_TERMINAL)
        async with await psycopg.AsyncConnection.connect(
            self.suite.database_url, autocommit=True
        ) as conn:
            while True:
                cursor = await conn.execute(
                    "select count(*) filter (where not state = any(%s)),"
                    " count(*) filter (where state = any(%s)) from workflows",
                    (terminal, terminal),
                )
                row = await cursor.fetchone()
                if row is not None:
                    self.backlog.append((time.monotonic(), int(row[0]), int(row[1])))
                await asyncio.sleep(2)

    async def reader(self, tenant: str) -> None:
        """ListWorkflows, GetWorkflow (FULL) and WatchWorkflow (to the end) in a loop on the
        tenant's own workflows; counts each answer's code."""
        client = self.clients[tenant]
        while True:
            mine = [i for i in self.submitted[-200:] if i.tenant == tenant and i.workflow_id]
            await self._read(
                "ListWorkflows",
                client.list_workflows(workflow_service_pb2.ListWorkflowsRequest(page_size=20)),
            )
            if mine:
                item = self.read_rng.choice(mine)
                await self._read("GetWorkflow", client.get(item.workflow_id, full=True))
                await self._read("WatchWorkflow", self._watch(client, item.workflow_id))
            await asyncio.sleep(0.5)

    async def _watch(self, client: HelicaseClient, workflow_id: str) -> None:
        async for _ in client.watch(workflow_id, within=60):
            pass

    async def _read(self, rpc: str, call: Any) -> None:
        try:
            await call
            self.reads[f"{rpc} OK"] += 1
        except grpc.aio.AioRpcError as err:
            self.reads[f"{rpc} {err.code().name}"] += 1
            if err.code() in BROKEN:
                self.broken_reads.append(f"{rpc}: {err.code().name} {err.details()}"[:300])

    def background(self) -> None:
        """Starts the probes, the monitor and the readers (until stop_background())."""
        loops = [self.probes(), self.monitor()]
        loops += [self.reader(t) for t in self.soak.mix.tenants for _ in range(self.soak.readers)]
        self._loops += [asyncio.create_task(loop) for loop in loops]

    def stop_background(self) -> None:
        for task in self._loops:
            task.cancel()

    # --- schedules

    async def create_schedules(self) -> None:
        for tenant, client in self.clients.items():
            for n in range(self.soak.schedules):
                schedule = json_format.ParseDict(
                    {"displayName": f"soak {tenant} {n}", "cron": "* * * * *",
                     "workflow": SCHEDULED},
                    schedule_pb2.Schedule(),
                )  # fmt: skip
                created = await client.create_schedule(schedule)
                self.schedule_ids.setdefault(tenant, []).append(created.id)
        self.log(f"{sum(map(len, self.schedule_ids.values()))} every-minute schedules")

    async def collect_scheduled(self) -> None:
        """Pauses the schedules, then adds every workflow they created to `submitted` (kind
        `scheduled`, with the request id the scheduler gives a firing)."""
        for tenant, ids in self.schedule_ids.items():
            for schedule_id in ids:
                await self.clients[tenant].set_schedule_paused(schedule_id, True)
        await asyncio.sleep(3)  # a firing already under way lands
        for tenant, ids in self.schedule_ids.items():
            for schedule_id in ids:
                for workflow in await self._runs(self.clients[tenant], schedule_id):
                    fired = datetime.fromisoformat(workflow.labels[cron.FIRE_TIME_LABEL])
                    self.submitted.append(
                        Submitted(
                            index=len(self.submitted),
                            kind="scheduled",
                            request_id=cron.request_id(schedule_id, fired),
                            task_ids=[t.id for t in workflow.tasks],
                            tenant=tenant,
                            workflow_id=workflow.id,
                            create_attempts=1,
                        )
                    )

    @staticmethod
    async def _runs(client: HelicaseClient, schedule_id: str) -> list[workflow_pb2.Workflow]:
        runs: list[workflow_pb2.Workflow] = []
        token = ""
        while True:
            page = await client.list_workflows(
                workflow_service_pb2.ListWorkflowsRequest(
                    labels={cron.SCHEDULE_LABEL: schedule_id},
                    page_size=100,
                    page_token=token,
                    view=workflow_pb2.WORKFLOW_VIEW_FULL,
                )
            )
            runs += page.workflows
            token = page.next_page_token
            if not token:
                return runs

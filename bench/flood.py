"""Fair use under a flood: tenant B's single-task latency (submit -> COMPLETED visible through
GetWorkflow, p50/p95 over N runs) with the suite idle, then while tenant A floods it (many
concurrent CreateWorkflow, ListWorkflows and WatchWorkflow callers at full speed). Prints both
and their ratio (goal: within 2x), and what A's callers got (answers, RESOURCE_EXHAUSTED).
B starts a run every second at most (`--every`), and under the flood only after `--settle`
(15 s) of it, so that its runs see the flood's steady state (a backlog that builds up) rather
than its first seconds. Figures are ratios measured in the same process; it never fails on a
time.

Against a running suite, with its platform admin token (tenants and keys are made through
AdminService), or on a private suite of its own on free ports (`--private`, settings with
`--env NAME=VALUE`), stopped at the end:

    HELICASE_ADMIN_TOKEN=... uv run python -m bench.flood --api 127.0.0.1:50051 [--runs 40]
        [--creators 16] [--listers 8] [--watchers 16]
    uv run python -m bench.flood --private [--env HELICASE_TENANT_RATE=100 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from bench.throughput import noop_workflow, percentile
from helicase.client import NO_RETRY, HelicaseClient, channel, load_workflow_request
from helicase.common.config import API_ADDR
from helicase.devstack._infra import Infra, InfraPorts
from helicase.devstack.settings import KEEP_TEST_HOME
from helicase.devstack.testing import RunningSuite, SuiteFactory, new_home, remove_home
from helicase.v1 import admin_pb2, admin_pb2_grpc, workflow_service_pb2
from helicase.wire import retry_delay

POLL = 0.01  # B polls GetWorkflow at most 100 times a second: within its own rate
WITHIN = 60.0  # the longest B waits for one workflow


async def tenant_key(
    api: str, admin_token: str, name: str, limits: dict[str, int] | None = None
) -> str:
    """An admin key of tenant `name`, made (with the tenant, and its `limits` set through
    UpdateTenantLimits) by the platform admin."""
    async with channel(api, token=admin_token) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        try:
            await admin.CreateTenant(
                admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id=name))
            )
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        if limits:
            await admin.UpdateTenantLimits(
                admin_pb2.UpdateTenantLimitsRequest(
                    tenant_limits=admin_pb2.TenantLimits(tenant_id=name, **limits),
                    update_mask=field_mask_pb2.FieldMask(paths=sorted(limits)),
                )
            )
        made = await admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(tenant_id=name, role=admin_pb2.ROLE_ADMIN)
        )
        return str(made.token)


async def latencies(client: HelicaseClient, runs: int, tag: str, every: float = 0.0) -> list[float]:
    """Milliseconds from CreateWorkflow to COMPLETED seen through GetWorkflow, run by run; a run
    starts `every` seconds after the previous one at the soonest (so that the runs span the
    flood's steady state, not its first seconds)."""
    samples = []
    for i in range(runs):
        request = load_workflow_request(noop_workflow(f"{tag}-{i}", 1))
        start = time.perf_counter()
        pace = asyncio.create_task(asyncio.sleep(every))
        workflow = await client.create(request)
        try:
            await client.wait(workflow.id, within=WITHIN, poll=POLL)
        except TimeoutError:
            print(f"  {tag}: workflow {workflow.id} not COMPLETED within {WITHIN:.0f}s")
        samples.append((time.perf_counter() - start) * 1000)  # a timed-out run counts WITHIN
        await pace
    return samples


class Flood:
    """Tenant A's callers, each calling again as soon as it is answered."""

    def __init__(self, client: HelicaseClient, *, ignore_retry: bool, tasks: int = 1) -> None:
        self.client = client
        self.ignore_retry = ignore_retry
        self.tasks = tasks
        self.answers: Counter[str] = Counter()
        self.created: list[str] = []

    async def _count(self, kind: str, call: Any) -> Any:
        try:
            result = await call
        except grpc.aio.AioRpcError as err:
            self.answers[f"{kind} {err.code().name}"] += 1
            if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # A gateway that honours RetryInfo; --ignore-retry-info: one that does not.
                await asyncio.sleep(0.001 if self.ignore_retry else retry_delay(err) or 0.001)
            return None
        self.answers[f"{kind} OK"] += 1
        return result

    async def creator(self) -> None:
        request = load_workflow_request(noop_workflow("flood", self.tasks))
        while True:
            made = await self._count("create", self.client.create(request))
            if made is not None:
                self.created.append(made.id)

    async def lister(self) -> None:
        listing = workflow_service_pb2.ListWorkflowsRequest(page_size=50)
        while True:
            await self._count("list", self.client.list_workflows(listing))

    async def watcher(self) -> None:
        while True:
            if not self.created:
                await asyncio.sleep(0.01)
                continue
            target = self.created[-1]

            async def follow(workflow_id: str = target) -> None:
                async for _ in self.client.watch(workflow_id):
                    pass

            await self._count("watch", follow())


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50), "p95": percentile(samples, 95)}


async def run(args: argparse.Namespace) -> None:
    suffix = uuid.uuid4().hex[:6]
    limits_a = dict((k, int(v)) for k, v in (item.split("=", 1) for item in args.a_limit))
    key_a = await tenant_key(args.api, args.admin_token, f"flood-a-{suffix}", limits_a)
    key_b = await tenant_key(args.api, args.admin_token, f"flood-b-{suffix}")
    async with (
        HelicaseClient(args.api, token=key_a, retry=NO_RETRY) as a,
        HelicaseClient(args.api, token=key_b) as b,
    ):
        await latencies(b, 3, "warm-up")
        idle = summary(await latencies(b, args.runs, "idle", args.every))
        print(f"tenant A's limits: {limits_a or 'the defaults'}", flush=True)
        print(f"idle: p50 {idle['p50']:.1f} ms, p95 {idle['p95']:.1f} ms", flush=True)
        flood = Flood(a, ignore_retry=args.ignore_retry_info, tasks=args.a_tasks)
        callers = (
            [flood.creator] * args.creators
            + [flood.lister] * args.listers
            + [flood.watcher] * args.watchers
        )
        tasks = [asyncio.create_task(caller()) for caller in callers]
        began = time.perf_counter()
        await asyncio.sleep(args.settle)  # the flood's backlog, if any, has built up
        measured = time.perf_counter()
        flooded = summary(await latencies(b, args.runs, "flood", args.every))
        ended = time.perf_counter()
        seconds = ended - began
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"tenant B single-task latency over {args.runs} runs (ms):")
    print(f"  idle   p50 {idle['p50']:8.1f}  p95 {idle['p95']:8.1f}")
    print(f"  flood  p50 {flooded['p50']:8.1f}  p95 {flooded['p95']:8.1f}")
    print(
        f"  ratio flood/idle: p50 {flooded['p50'] / idle['p50']:.2f}x,"
        f" p95 {flooded['p95'] / idle['p95']:.2f}x (goal: within 2x)"
    )
    print(
        f"tenant A's flood ({args.creators} creators of {args.a_tasks}-task workflows,"
        f" {args.listers} listers,"
        f" {args.watchers} watchers) over {seconds:.1f}s ({args.settle:.0f}s before B measured,"
        f" {ended - measured:.1f}s while it did):"
    )
    for kind, count in sorted(flood.answers.items()):
        print(f"  {kind:32} {count:7d}  ({count / seconds:7.1f}/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default=API_ADDR.read())
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("HELICASE_ADMIN_TOKEN", ""),
        help="the platform admin's token (default: $HELICASE_ADMIN_TOKEN)",
    )
    parser.add_argument("--runs", type=int, default=40, help="B's workflows per phase")
    parser.add_argument("--creators", type=int, default=16)
    parser.add_argument("--listers", type=int, default=8)
    parser.add_argument("--watchers", type=int, default=16)
    parser.add_argument("--a-tasks", type=int, default=1, help="tasks per workflow A creates")
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds of flood before B measures"
    )
    parser.add_argument(
        "--every", type=float, default=1.0, help="B starts a run every this many seconds at most"
    )
    parser.add_argument("--private", action="store_true", help="on a suite of its own")
    parser.add_argument(
        "--ignore-retry-info", action="store_true", help="A calls again at once when refused"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE (--private)")
    parser.add_argument(
        "--a-limit",
        action="append",
        default=[],
        help="FIELD=N: one of tenant A's limits (AdminService.TenantLimits, e.g."
        " requests_per_second=20, max_running_workflows=8); B keeps the defaults",
    )
    args = parser.parse_args()
    if args.private:
        private(args)
    elif not args.admin_token:
        parser.error("the platform admin's token is needed (--admin-token)")
    else:
        asyncio.run(run(args))


def private(args: argparse.Namespace) -> None:
    """Runs the measurement on a suite of its own (free ports), then stops it."""

    def measure(suite: RunningSuite) -> None:
        args.api, args.admin_token = suite.api_addr, suite.admin_token
        asyncio.run(run(args))

    on_private_suite("helicase-flood-", args.env, measure)


def on_private_suite(prefix: str, env: list[str], body: Callable[[RunningSuite], None]) -> None:
    """`body(suite)` on a suite of its own (free ports, settings `env`: NAME=VALUE), stopped
    at the end whatever happens."""
    home = new_home(prefix)
    infra = Infra(home, InfraPorts.free(), durable=True)
    keep = KEEP_TEST_HOME.read()
    factory = SuiteFactory(infra, keep_homes=keep)
    try:
        infra.start()
        suite = factory(extra_env=dict(item.split("=", 1) for item in env))
        print(f"private suite; settings: {' '.join(env) or 'the defaults'}", flush=True)
        body(suite)
    finally:
        factory.close()
        infra.stop()
        remove_home(home, keep=keep)


if __name__ == "__main__":
    main()

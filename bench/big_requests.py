"""Large requests at once: tenant A's callers each send near-limit requests (7.5 or 15.5 MiB) as
fast as they are answered, at rising concurrency. The resident memory of the api, the scheduler
and the controllers is sampled every quarter second, and tenant B's single-task latency
(submit -> COMPLETED) is measured idle and under each level. Prints the peaks per level, what
A's calls got, and B's p50 as a ratio of idle (same process, same machine). It never fails on a
time or a size.

Two kinds of large request (`--kind`): `valid`, a CreateWorkflow of 120 shell tasks with 64 KiB
of params each, 7.5 MiB (under the 8 MiB a definition may have), stored and launched but left
waiting for an instance group no participant serves (so that running them does not load the
machine), and `invalid`, a CreateWorkflow whose display name is 15.5 MiB (refused with
INVALID_ARGUMENT after it is read).

    uv run python -m bench.big_requests [--levels 1,4,16,64] [--seconds 20] [--kind valid]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter

import grpc

from bench.flood import latencies, on_private_suite, summary, tenant_key
from helicase.client import NO_RETRY, HelicaseClient, load_workflow_request
from helicase.devstack.fuzz._health import rss_kib
from helicase.devstack.testing import RunningSuite
from helicase.v1 import workflow_service_pb2
from helicase.wire import retry_delay

PARAMS = 64 * 1024 - 128  # bytes of one task's params, under the 64 KiB limit
TASKS = 120


def big_request(kind: str) -> workflow_service_pb2.CreateWorkflowRequest:
    if kind == "invalid":
        return load_workflow_request(
            {"workflow": {"displayName": "x" * (15 << 20) + "y" * (1 << 19), "tasks": []}}
        )
    params = {"command": "true", "env": {"PAD": "x" * PARAMS}}
    tasks = [
        {"id": f"t{i}", "type": "shell", "params": params, "instanceGroup": "bench-nobody"}
        for i in range(TASKS)
    ]
    return load_workflow_request({"workflow": {"displayName": "big", "tasks": tasks}})


class Sampler:
    """The RSS of the api, the scheduler and the controllers (the larger of the two) every
    `every` seconds; `peaks()` since the last `reset()`, in MiB."""

    SERVICES = ("api", "scheduler", "controller")

    def __init__(self, suite: RunningSuite, every: float = 0.25) -> None:
        self.suite, self.every = suite, every
        self.samples: dict[str, list[int]] = {name: [] for name in self.SERVICES}

    def reset(self) -> None:
        self.samples = {name: [] for name in self.SERVICES}

    def peaks(self) -> dict[str, float]:
        return {name: max(kib, default=0) / 1024 for name, kib in self.samples.items()}

    async def run(self) -> None:
        while True:
            for service in self.suite.specs:
                kib = rss_kib(self.suite.supervisor.pid(service))
                group = service.split("-")[0]
                if kib is not None and group in self.samples:
                    self.samples[group].append(kib)
            await asyncio.sleep(self.every)


async def caller(client: HelicaseClient, kind: str, answers: Counter[str]) -> None:
    request = big_request(kind)
    while True:
        request.request_id = uuid.uuid4().hex
        try:
            await client.create(request)
            answers["OK"] += 1
        except grpc.aio.AioRpcError as err:
            answers[err.code().name] += 1
            await asyncio.sleep(retry_delay(err) or 0.01)


async def run(suite: RunningSuite, args: argparse.Namespace) -> None:
    suffix = uuid.uuid4().hex[:6]
    key_a = await tenant_key(suite.api_addr, suite.admin_token, f"big-a-{suffix}")
    key_b = await tenant_key(suite.api_addr, suite.admin_token, f"big-b-{suffix}")
    sampler = Sampler(suite)
    sampling = asyncio.create_task(sampler.run())
    async with (
        HelicaseClient(suite.api_addr, token=key_a, retry=NO_RETRY, timeout=120) as a,
        HelicaseClient(suite.api_addr, token=key_b) as b,
    ):
        await latencies(b, 3, "warm-up")
        sampler.reset()
        idle = summary(await latencies(b, args.runs, "idle", 0.5))
        rows = [("idle", sampler.peaks(), idle["p50"], Counter[str]())]
        for level in args.levels:
            answers: Counter[str] = Counter()
            callers = [asyncio.create_task(caller(a, args.kind, answers)) for _ in range(level)]
            sampler.reset()
            began = time.perf_counter()
            await asyncio.sleep(args.seconds / 2)
            flooded = summary(await latencies(b, args.runs, f"big{level}", 0.5))
            await asyncio.sleep(max(0.0, args.seconds - (time.perf_counter() - began)))
            for task in callers:
                task.cancel()
            await asyncio.gather(*callers, return_exceptions=True)
            rows.append((f"{level} callers", sampler.peaks(), flooded["p50"], answers))
            print(f"  {level} callers: peaks {mib(sampler.peaks())}", flush=True)
    sampling.cancel()
    size = big_request(args.kind).ByteSize() / 2**20
    print(f"{args.kind} requests of {size:.1f} MiB; RSS peaks and tenant B's p50 (ms):")
    for label, peaks, p50, answers in rows:
        got = ", ".join(f"{k} {v}" for k, v in sorted(answers.items()))
        print(f"  {label:12} {mib(peaks)}  B p50 {p50:8.1f} ({p50 / idle['p50']:.2f}x)  {got}")


def mib(peaks: dict[str, float]) -> str:
    return "  ".join(f"{name} {peak:6.0f} MiB" for name, peak in peaks.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,4,16,64", help="concurrent callers of tenant A")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level")
    parser.add_argument("--runs", type=int, default=10, help="B's workflows per phase")
    parser.add_argument("--kind", choices=["valid", "invalid"], default="valid")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the suite")
    args = parser.parse_args()
    args.levels = [int(n) for n in args.levels.split(",")]
    on_private_suite("helicase-big-", args.env, lambda suite: asyncio.run(run(suite, args)))


if __name__ == "__main__":
    main()

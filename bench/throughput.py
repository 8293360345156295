"""First benchmark: end-to-end throughput and single-task latency through the public API.

(a) N workflows x M no-op tasks submitted at once: tasks/s from the first submit until every
    workflow is COMPLETED with all M task completions visible in PostgreSQL (GetWorkflow).
(d) K sequential single-task workflows: submit -> COMPLETED visible through GetWorkflow.

Prints the figures and writes them to bench/results/<date>-throughput.json. Never asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import suite_cpu
from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.config import API_ADDR
from helicase.v1 import workflow_pb2

ROOT = Path(__file__).resolve().parent
COMPLETED = workflow_pb2.WORKFLOW_STATE_COMPLETED


def noop_workflow(name: str, tasks: int) -> dict[str, object]:
    return {
        "workflow": {
            "displayName": name,
            "labels": {"bench": "throughput"},
            "tasks": [{"id": f"t{i}", "type": "noop"} for i in range(tasks)],
        }
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def wait_all_completed(client: HelicaseClient, ids: list[str], tasks: int) -> None:
    pending = set(ids)
    while pending:
        for workflow_id in list(pending):
            workflow = await client.get(workflow_id, full=False)
            done = workflow.task_counts.get("TASK_STATE_COMPLETED", 0)
            if workflow.state == COMPLETED and done == tasks:
                pending.discard(workflow_id)
            elif workflow.state not in (
                workflow_pb2.WORKFLOW_STATE_PENDING,
                workflow_pb2.WORKFLOW_STATE_RUNNING,
            ):
                raise RuntimeError(f"workflow {workflow_id} ended {workflow.state}")
        await asyncio.sleep(0.05)


async def throughput(client: HelicaseClient, workflows: int, tasks: int) -> dict[str, Any]:
    start = time.perf_counter()
    created = await asyncio.gather(
        *(client.create(load_workflow_request(noop_workflow(f"bench-{i}", tasks)))
          for i in range(workflows))
    )  # fmt: skip
    submitted = time.perf_counter()
    await wait_all_completed(client, [w.id for w in created], tasks)
    elapsed = time.perf_counter() - start
    total = workflows * tasks
    return {
        "workflows": workflows,
        "tasks": total,
        "submit_s": round(submitted - start, 3),
        "elapsed_s": round(elapsed, 3),
        "tasks_per_s": round(total / elapsed, 1),
    }


async def latency(client: HelicaseClient, runs: int) -> dict[str, float]:
    samples: list[float] = []
    for i in range(runs):
        request = load_workflow_request(noop_workflow(f"latency-{i}", 1))
        start = time.perf_counter()
        workflow = await client.create(request)
        await client.wait(workflow.id, within=60, poll=0.002)
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "runs": runs,
        "p50_ms": round(percentile(samples, 50), 1),
        "p99_ms": round(percentile(samples, 99), 1),
        "mean_ms": round(statistics.fmean(samples), 1),
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    async with HelicaseClient(args.api, timeout=60) as client:
        await latency(client, 3)  # warm-up: connections, caches
        runs_a = []
        for _ in range(args.repeat):
            before = suite_cpu.snapshot() if args.cpu else {}
            result_a = await throughput(client, args.workflows, args.tasks)
            print(
                f"(a) {result_a['workflows']} x {args.tasks} noop tasks: "
                f"{result_a['tasks_per_s']} tasks/s end to end ({result_a['elapsed_s']} s)"
            )
            if args.cpu:
                cpu = suite_cpu.spent(before, suite_cpu.snapshot())
                result_a["cpu_s"] = cpu
                print("    CPU s: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
            runs_a.append(result_a)
        result_d = await latency(client, args.latency_runs)
        print(
            f"(d) {args.latency_runs} sequential 1-task workflows: submit->COMPLETED "
            f"p50 {result_d['p50_ms']} ms, p99 {result_d['p99_ms']} ms"
        )
    return {"throughput": runs_a[-1], "throughput_runs": runs_a, "latency": result_d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=API_ADDR.read())
    parser.add_argument("--workflows", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="(a) runs, one after another")
    parser.add_argument(
        "--cpu", action="store_true", help="CPU seconds of each suite component per (a) run"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
        **figures,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{datetime.now(UTC):%Y-%m-%d}-throughput.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path}")


if __name__ == "__main__":
    main()

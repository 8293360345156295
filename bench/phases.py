"""Where a single-task workflow's latency goes, through the public API: the CreateWorkflow call
itself, then until the workflow leaves PENDING, then until it is COMPLETED (GetWorkflow polled
every 2 ms), and one GetWorkflow's own time. Medians, in ms; never asserts a time.

`uv run python -m bench.phases --api 127.0.0.1:50051 --runs 200` against a running suite
(`make up`; the client reads HELICASE_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from helicase.client import HelicaseClient, load_workflow_request
from helicase.v1 import workflow_pb2

PENDING = workflow_pb2.WORKFLOW_STATE_PENDING
COMPLETED = workflow_pb2.WORKFLOW_STATE_COMPLETED


async def phases(addr: str, runs: int) -> dict[str, float]:
    create: list[float] = []
    started: list[float] = []
    finished: list[float] = []
    get: list[float] = []
    body = {"workflow": {"displayName": "phases", "tasks": [{"id": "a", "type": "noop"}]}}
    async with HelicaseClient(addr, timeout=30) as client:
        for _ in range(runs):
            t0 = time.perf_counter()
            workflow = await client.create(load_workflow_request(body))
            t1 = time.perf_counter()
            left_pending = None
            while True:
                g0 = time.perf_counter()
                current = await client.get(workflow.id, full=False)
                now = time.perf_counter()
                get.append(now - g0)
                if left_pending is None and current.state != PENDING:
                    left_pending = now
                if current.state == COMPLETED:
                    break
                await asyncio.sleep(0.002)
            assert left_pending is not None
            create.append(t1 - t0)
            started.append(left_pending - t1)
            finished.append(now - left_pending)

    def median_ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 2)

    return {
        "create": median_ms(create),
        "create->not pending": median_ms(started),
        "->completed": median_ms(finished),
        "GetWorkflow": median_ms(get),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="127.0.0.1:50051")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    figures = asyncio.run(phases(args.api, args.runs))
    print(" | ".join(f"{name} {ms} ms" for name, ms in figures.items()))


if __name__ == "__main__":
    main()

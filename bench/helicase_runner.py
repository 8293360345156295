"""The Helicase side of `make bench`: the workloads (a)-(e) through the public API.

(a) N workflows x M independent noop tasks; (b) N workflows, each a chain of L noop tasks;
(c) one workflow: 1 -> W noop tasks -> 1; (d) K single-task workflows one after another;
(e) Helicase only: (e1) one workflow of 100,000 tasks run to COMPLETED; (e2) K workflows x N
tasks held by the controller at once (its memory; see `hold`; by default 10 x 100,000).

Measured like bench/helix (so the figures compare): tasks/s = all tasks / (first submission ->
last workflow seen COMPLETED through GetWorkflow, i.e. stored in PostgreSQL); dispatch = a task's
start on its participant (its attempt's start time) minus the moment its dependencies were done
(the latest stored end of its dependencies, see `dispatch_times`, or its workflow's submission
for a root task); dependent dispatch = the same for the tasks with at least one dependency only
(the per-hop time, without the submission path of root tasks; none in (a) and (d));
submit->COMPLETED per workflow. Workflows are submitted one after another, as the Helix driver
does. Run alone: `uv run python -m bench.helicase_runner --api HOST:PORT --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.config import API_ADDR
from helicase.v1 import workflow_pb2

COMPLETED = workflow_pb2.WORKFLOW_STATE_COMPLETED
ACTIVE = (workflow_pb2.WORKFLOW_STATE_PENDING, workflow_pb2.WORKFLOW_STATE_RUNNING)

Task = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """One workload: workflows (each a list of tasks in the design's JSON shape)."""

    id: str
    description: str
    flows: list[list[Task]]
    sequential: bool = False
    dispatch: bool = True  # read every task back (GetWorkflow FULL) for dispatch times

    @property
    def tasks(self) -> int:
        return sum(len(flow) for flow in self.flows)


def independent_tasks(workflows: int, tasks: int) -> Plan:
    flow: list[Task] = [{"id": f"t{i}", "type": "noop"} for i in range(tasks)]
    flows = [flow] * workflows
    return Plan("a", f"{workflows} workflows x {tasks} independent noop tasks", flows)


def chains(workflows: int, length: int) -> Plan:
    flow: list[Task] = [{"id": "step0", "type": "noop"}]
    flow += [
        {"id": f"step{i}", "type": "noop", "dependsOn": [f"step{i - 1}"]} for i in range(1, length)
    ]
    return Plan(
        "b", f"{workflows} workflows, each a chain of {length} noop tasks", [flow] * workflows
    )


def fan_out(width: int) -> Plan:
    wide: list[Task] = [
        {"id": f"fan{i}", "type": "noop", "dependsOn": ["source"]} for i in range(width)
    ]
    flow: list[Task] = [
        {"id": "source", "type": "noop"},
        *wide,
        {"id": "join", "type": "noop", "dependsOn": [t["id"] for t in wide]},
    ]
    return Plan("c", f"1 workflow: 1 -> {width} noop tasks -> 1", [flow])


def sequential(runs: int) -> Plan:
    return Plan(
        "d",
        f"{runs} sequential single-task workflows",
        [[{"id": "only", "type": "noop"}]] * runs,
        sequential=True,
    )


def large(tasks: int) -> Plan:
    flow = [{"id": f"t{i}", "type": "noop"} for i in range(tasks)]
    return Plan("e1", f"1 workflow x {tasks} independent noop tasks", [flow], dispatch=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(millis: list[float]) -> dict[str, float | int | None]:
    if not millis:
        return {"n": 0, "p50": None, "p99": None}
    return {
        "n": len(millis),
        "p50": round(percentile(millis, 50), 1),
        "p99": round(percentile(millis, 99), 1),
    }


def _seconds(stamp: Any) -> float:
    return float(stamp.seconds) + float(stamp.nanos) / 1e9


def dispatch_times(
    workflow: workflow_pb2.Workflow, submitted: float
) -> tuple[list[float], list[float]]:
    """Milliseconds from "dependencies done" to "started": (every task of `workflow`, only the
    tasks with at least one dependency).

    A task's start is its current attempt's `start_time` (the participant's RUNNING stamp, or the
    start the terminal event carries when the task ended before RUNNING was recorded). A
    dependency counts as done at its stored `end_time`, which is always the participant's end: the
    controller no longer republishes results with its own time. A root task is ready when its
    workflow was submitted (`submitted`, epoch seconds).
    """
    done = {task.id: _seconds(task.end_time) for task in workflow.tasks}
    every: list[float] = []
    dependent: list[float] = []
    for task in workflow.tasks:
        ready = max((done[d] for d in task.depends_on), default=submitted)
        millis = (_seconds(task.start_time) - ready) * 1000
        every.append(millis)
        if task.depends_on:
            dependent.append(millis)
    return every, dependent


def request(name: str, tasks: list[Task]) -> Any:
    body = {"displayName": name, "labels": {"bench": "compare"}, "tasks": tasks}
    return load_workflow_request({"workflow": body})


async def _await_completed(
    client: HelicaseClient, pending: dict[str, int], done: dict[str, float], poll: float
) -> None:
    """Polls GetWorkflow (BASIC) until every workflow of `pending` (id -> task count) is COMPLETED
    with all its task completions stored."""
    left = dict(pending)
    while left:
        for workflow_id, tasks in list(left.items()):
            workflow = await client.get(workflow_id, full=False)
            if workflow.state == COMPLETED:
                if workflow.task_counts.get("TASK_STATE_COMPLETED", 0) == tasks:
                    done[workflow_id] = time.time()
                    del left[workflow_id]
            elif workflow.state not in ACTIVE:
                name = workflow_pb2.WorkflowState.Name(workflow.state)
                raise RuntimeError(f"workflow {workflow_id} ended {name}: {workflow.message}")
        if left:
            await asyncio.sleep(poll)


async def run_plan(client: HelicaseClient, plan: Plan, tag: str) -> dict[str, Any]:
    submitted: dict[str, float] = {}
    done: dict[str, float] = {}
    start = time.time()
    for index, flow in enumerate(plan.flows):
        req = request(f"{tag}-{plan.id}{index}", flow)
        at = time.time()
        workflow = await client.create(req)
        submitted[workflow.id] = at
        if plan.sequential:
            await _await_completed(client, {workflow.id: len(flow)}, done, poll=0.001)
    if not plan.sequential:
        sizes = {wid: len(flow) for wid, flow in zip(submitted, plan.flows, strict=True)}
        await _await_completed(client, sizes, done, poll=0.01)
    elapsed = max(done.values()) - start
    dispatch: list[float] = []
    dependent: list[float] = []
    if plan.dispatch:
        for workflow_id, at in submitted.items():
            every, after = dispatch_times(await client.get(workflow_id, full=True), at)
            dispatch += every
            dependent += after
    return {
        "description": plan.description,
        "workflows": len(plan.flows),
        "tasks": plan.tasks,
        "elapsed_s": round(elapsed, 3),
        "tasks_per_s": round(plan.tasks / elapsed, 1),
        "dispatch_ms": summary(dispatch),
        "dispatch_dependent_ms": summary(dependent),
        "submit_to_completed_ms": summary([(done[w] - at) * 1000 for w, at in submitted.items()]),
    }


async def hold(
    client: HelicaseClient, workflows: int, tasks: int, on_held: Callable[[], None]
) -> dict[str, Any]:
    """(e2) The controller tracking `workflows` x `tasks` tasks at once: each workflow is one long
    sleep task with every other task waiting on it (nothing else runs, so nothing floods the event
    path), submitted one after another; once every workflow is RUNNING, `on_held` is called (the
    caller samples memory there). The workflows are left running: run (e2) last, the suite is torn
    down afterwards (cancelling would publish one CANCELED event per task)."""
    flow: list[Task] = [{"id": "root", "type": "sleep", "params": {"seconds": 3600}}]
    flow += [{"id": f"t{i}", "type": "noop", "dependsOn": ["root"]} for i in range(1, tasks)]
    start = time.time()
    ids = [(await client.create(request(f"hold-{i}", flow))).id for i in range(workflows)]
    submitted = time.time()
    waiting = set(ids)
    while waiting:
        for workflow_id in list(waiting):
            state = (await client.get(workflow_id, full=False)).state
            if state == workflow_pb2.WORKFLOW_STATE_RUNNING:
                waiting.discard(workflow_id)
            elif state not in ACTIVE:
                raise RuntimeError(f"held workflow {workflow_id} ended {state}")
        await asyncio.sleep(0.2)
    running = time.time()
    on_held()
    return {
        "description": f"{workflows} workflows x {tasks} tasks held by the controller at once",
        "workflows": workflows,
        "tasks": workflows * tasks,
        "submit_s": round(submitted - start, 3),
        "all_running_s": round(running - start, 3),
    }


SCALE_HELP = {
    "a_workflows": "(a) workflows",
    "a_tasks": "(a) independent tasks per workflow",
    "b_workflows": "(b) workflows",
    "b_length": "(b) tasks per chain",
    "c_width": "(c) tasks between the source and the join",
    "d_runs": "(d) sequential single-task workflows",
    "e_tasks": "(e1) tasks of the one big workflow",
    "e_hold_workflows": "(e2) workflows held at once",
    "e_hold_tasks": "(e2) tasks per held workflow",
}


@dataclass(frozen=True, kw_only=True)
class Scales:
    """The size of every workload (defaults: the full benchmark; `quick()`: a smoke run)."""

    a_workflows: int = 10
    a_tasks: int = 1000
    b_workflows: int = 100
    b_length: int = 10
    c_width: int = 10_000
    d_runs: int = 200
    # (e1) one workflow of 100,000 tasks; (e2) 10 x 100,000 = 1,000,000 tasks held at once. A
    # definition of up to 8 MiB is accepted (a 100,000-task noop workflow is ~1.6 MB, ~3 MB with a
    # dependency each); the old 1 MB Kafka message limit that kept (e1) at 35,000 and (e2) at
    # 34 x 30,000 is gone (docs/benchmarks.md, "Limits found on the way").
    e_tasks: int = 100_000
    e_hold_workflows: int = 10
    e_hold_tasks: int = 100_000

    @classmethod
    def quick(cls) -> Scales:
        return cls(
            a_workflows=2,
            a_tasks=100,
            b_workflows=5,
            b_length=5,
            c_width=200,
            d_runs=10,
            e_tasks=1000,
            e_hold_workflows=2,
            e_hold_tasks=1000,
        )

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """--quick and one flag per scale (e.g. --a-tasks)."""
        parser.add_argument("--quick", action="store_true", help="small scales (a smoke run)")
        for name, value in vars(Scales()).items():
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                type=int,
                default=None,
                help=f"{SCALE_HELP[name]} (default {value:,})",
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Scales:
        """The scales `add_arguments` parsed: quick or full, with the flags given on top."""
        base = cls.quick() if args.quick else cls()
        overrides = {k: v for k, v in vars(args).items() if k in vars(base) and v is not None}
        return cls(**{**vars(base), **overrides})

    def plans(self) -> dict[str, Plan]:
        return {
            "a": independent_tasks(self.a_workflows, self.a_tasks),
            "b": chains(self.b_workflows, self.b_length),
            "c": fan_out(self.c_width),
            "d": sequential(self.d_runs),
            "e1": large(self.e_tasks),
        }


async def run_all(
    api: str,
    scales: Scales,
    workloads: list[str],
    *,
    on_begin: Callable[[str], None] = lambda _: None,
    on_end: Callable[[str], None] = lambda _: None,
    token: str | None = None,
) -> dict[str, Any]:
    """Runs `workloads` (ids among a, b, c, d, e1, e2) in order; `on_begin`/`on_end` bracket each
    (the caller measures CPU and memory there). `token`: the bearer token ($HELICASE_TOKEN when
    None)."""
    tag = f"r{int(time.time())}"
    out: dict[str, Any] = {}
    plans = scales.plans()
    async with HelicaseClient(api, token=token, timeout=120) as client:
        await run_plan(client, sequential(3), f"{tag}-warm")  # connections, caches
        for wid in workloads:
            print(f"helicase: workload ({wid})", file=sys.stderr, flush=True)
            on_begin(wid)
            if wid == "e2":
                out[wid] = await hold(
                    client, scales.e_hold_workflows, scales.e_hold_tasks, lambda: on_end("e2")
                )
            else:
                out[wid] = await run_plan(client, plans[wid], tag)
                on_end(wid)
            print(f"helicase: ({wid}) {out[wid]}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=API_ADDR.read())
    parser.add_argument("--workloads", default="a,b,c,d")
    Scales.add_arguments(parser)
    args = parser.parse_args()
    scales = Scales.from_args(args)
    result = asyncio.run(run_all(args.api, scales, args.workloads.split(",")))
    print(json.dumps({"system": "helicase", "workloads": result}, indent=2))


if __name__ == "__main__":
    main()

"""Runs the example workflows against a running suite and prints their progress and outcome."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from helicase.client import HelicaseClient, load_workflow_request
from helicase.v1 import workflow_pb2

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["diamond", "retry", "fatal"]


def state_name(state: int) -> str:
    return workflow_pb2.TaskState.Name(state).removeprefix("TASK_STATE_")  # type: ignore[arg-type]


def workflow_state_name(state: int) -> str:
    return workflow_pb2.WorkflowState.Name(state).removeprefix("WORKFLOW_STATE_")  # type: ignore[arg-type]


async def follow(client: HelicaseClient, name: str, workflow_id: str) -> workflow_pb2.Workflow:
    seen: dict[str, tuple[int, int]] = {}
    last = None
    async for workflow in client.watch(workflow_id):
        last = workflow
        for task in workflow.tasks:
            key = (task.state, task.attempt)
            if seen.get(task.id) != key:
                seen[task.id] = key
                where = f" on {task.participant}" if task.participant else ""
                print(
                    f"  [{name}] {task.id}: {state_name(task.state)}"
                    f" (attempt {task.attempt}){where}"
                )
    # The watch ends on the terminal state; read it back from PostgreSQL.
    return await client.wait(workflow_id) if last is not None else await client.get(workflow_id)


async def run(addr: str) -> int:
    token = uuid.uuid4().hex
    async with HelicaseClient(addr) as client:
        types = await client.task_types()
        print(
            "task types served:",
            ", ".join(f"{t.name} ({', '.join(t.instance_groups)})" for t in types),
        )
        started: dict[str, str] = {}
        for name in EXAMPLES:
            raw = (ROOT / "examples" / f"{name}.json").read_text().replace("@TOKEN@", token)
            request = load_workflow_request(json.loads(raw))
            workflow = await client.create(request)
            started[name] = workflow.id
            print(f"submitted {name}: {workflow.id}")
        results = await asyncio.gather(*(follow(client, n, i) for n, i in started.items()))
    print()
    for name, workflow in zip(started, results, strict=True):
        print(f"{name:8} {workflow.id}  {workflow_state_name(workflow.state)}  {workflow.message}")
        for task in workflow.tasks:
            print(
                f"    {task.id:8} {state_name(task.state):12} attempts={task.attempt} "
                f"participant={task.participant or '-'} {task.message}"
            )
    expected = {"diamond": "COMPLETED", "retry": "COMPLETED", "fatal": "FAILED"}
    ok = all(
        workflow_state_name(w.state) == expected[n] for n, w in zip(started, results, strict=True)
    )
    print()
    print("Try it with grpcurl (installed in .helicase/bin):")
    print(f"  .helicase/bin/grpcurl -plaintext {addr} list")
    print(
        f"  .helicase/bin/grpcurl -plaintext -d @ {addr} helicase.v1.WorkflowService/CreateWorkflow"
        " < examples/hello.json"
    )
    print(
        f'  .helicase/bin/grpcurl -plaintext -d \'{{"id": "{started["diamond"]}"}}\' {addr} '
        "helicase.v1.WorkflowService/GetWorkflow"
    )
    print("The suite keeps running: `make status` shows it, `make down` stops it.")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=os.environ.get("HELICASE_API_ADDR", "127.0.0.1:50051"))
    sys.exit(asyncio.run(run(parser.parse_args().api)))


if __name__ == "__main__":
    main()

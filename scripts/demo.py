"""Runs the example workflows against a running suite and prints their progress and outcome."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import grpc

from helicase.client import HelicaseClient, load_workflow_request
from helicase.devstack.testing import new_home, remove_home, start_loopback_cluster
from helicase.v1 import (
    experiment_pb2,
    experiment_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    workflow_pb2,
)

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


# --- the Airavata experiment (separate from the examples above: `demo.py --experiment`) -------

EXPERIMENT_STATE = experiment_pb2.ExperimentState
EXPERIMENT_PROGRAM = """#!/bin/sh
awk '{ s += $1 } END { print "sum=" s }' "$1" > "$2"
"""
TERMINAL = (
    experiment_pb2.EXPERIMENT_STATE_COMPLETED,
    experiment_pb2.EXPERIMENT_STATE_FAILED,
    experiment_pb2.EXPERIMENT_STATE_CANCELED,
)


def _file(name: str) -> experiment_pb2.ExperimentFile:
    return experiment_pb2.ExperimentFile(storage_path=f"demo/{name}", name=name)


async def run_experiment_demo(addr: str) -> int:
    """Runs one experiment on a loopback sshd + SLURM it starts (as root) and stops. Needs a
    suite whose api has HELICASE_CREDENTIAL_KEY and HELICASE_INTERNAL_TOKEN and whose
    participants serve the airavata.* types with the same token (see docs/hpc.md), e.g.
    `HELICASE_PARTICIPANT_TASK_TYPES=noop,sleep,shell,airavata.env_setup,...` before `make up`.
    """
    home = new_home("helicase-demo-hpc-")
    print(f"starting sshd + one-node SLURM under {home} ...")
    cluster = start_loopback_cluster(home)
    try:
        storage_root = home / "storage"
        (storage_root / "demo").mkdir(parents=True)
        (storage_root / "demo" / "numbers.txt").write_text("3\n4\n5\n")
        (storage_root / "demo" / "sum.sh").write_text(EXPERIMENT_PROGRAM)
        async with grpc.aio.insecure_channel(addr) as channel:
            resources = resource_pb2_grpc.ResourceServiceStub(channel)
            compute = await resources.CreateComputeResource(
                resource_pb2.CreateComputeResourceRequest(
                    compute_resource=resource_pb2.ComputeResource(
                        display_name="loopback slurm", host=cluster.host, port=cluster.ssh_port,
                        login_user=cluster.user, batch_system=resource_pb2.BATCH_SYSTEM_SLURM,
                        scratch_root=str(home / "scratch"), host_key=cluster.host_key,
                    )
                )
            )  # fmt: skip
            storage = await resources.CreateStorageResource(
                resource_pb2.CreateStorageResourceRequest(
                    storage_resource=resource_pb2.StorageResource(
                        display_name="loopback sftp", host=cluster.host, port=cluster.ssh_port,
                        login_user=cluster.user, root_path=str(storage_root),
                        host_key=cluster.host_key,
                    )
                )
            )  # fmt: skip
            credential = await resources.CreateCredential(
                resource_pb2.CreateCredentialRequest(
                    credential=resource_pb2.Credential(
                        display_name="demo key", private_key=cluster.client_private_key
                    )
                )
            )
            print(f"credential {credential.credential.id}: {credential.credential.fingerprint}")
            experiments = experiment_pb2_grpc.ExperimentServiceStub(channel)
            made = await experiments.CreateExperiment(
                experiment_pb2.CreateExperimentRequest(
                    request_id=uuid.uuid4().hex,
                    experiment=experiment_pb2.Experiment(
                        display_name="sum numbers",
                        application=experiment_pb2.ApplicationSpec(
                            executable="/bin/sh",
                            arguments=["sum.sh", "numbers.txt", "result.txt"],
                        ),
                        inputs=[_file("numbers.txt"), _file("sum.sh")],
                        outputs=[_file("result.txt")],
                        compute_resource_id=compute.compute_resource.id,
                        storage_resource_id=storage.storage_resource.id,
                        credential_id=credential.credential.id,
                        resource_request=experiment_pb2.ResourceRequest(walltime_minutes=5),
                    ),
                )
            )  # fmt: skip
            experiment_id = made.experiment.id
            print(f"experiment {experiment_id} (workflow {made.experiment.workflow_id})")
            last = None
            for _ in range(600):
                reply = await experiments.GetExperiment(
                    experiment_pb2.GetExperimentRequest(id=experiment_id)
                )
                got = reply.experiment
                if got.state != last:
                    last = got.state
                    job = f" job {got.job_id}" if got.job_id else ""
                    name = EXPERIMENT_STATE.Name(got.state).removeprefix("EXPERIMENT_STATE_")
                    print(f"  {name}{job}")
                if got.state in TERMINAL:
                    break
                await asyncio.sleep(0.3)
        print(f"outputs: {list(got.output_locations)}  archive: {got.archive_location}")
        result = storage_root / "demo" / "result.txt"
        print(f"result.txt: {result.read_text().strip() if result.exists() else '(missing)'}")
        return 0 if got.state == experiment_pb2.EXPERIMENT_STATE_COMPLETED else 1
    finally:
        cluster.stop()
        remove_home(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=os.environ.get("HELICASE_API_ADDR", "127.0.0.1:50051"))
    # The Airavata experiment (scripts/demo_experiment.py: needs root and a configured suite).
    parser.add_argument("--experiment", action="store_true", help="run the experiment demo only")
    args = parser.parse_args()
    if args.experiment:
        sys.exit(asyncio.run(run_experiment_demo(args.api)))
    sys.exit(asyncio.run(run(args.api)))


if __name__ == "__main__":
    main()

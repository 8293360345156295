"""Runs the example workflows against a running suite and prints their progress and outcome,
then one experiment on the suite's loopback SSH + SLURM (when `make up` could start it)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc

from helicase import wire
from helicase.api.config import WEB_LISTEN
from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.config import API_ADDR
from helicase.devstack import ClusterInfo, describe_local_cluster
from helicase.devstack._paths import home as devstack_home
from helicase.devstack._secrets_env import SECRETS_FILE, TOKEN
from helicase.devstack._secrets_env import read as read_secrets
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


def demo_token() -> str:
    """$HELICASE_TOKEN, else the `demo` tenant's admin key `make up` wrote to secrets.env."""
    return os.environ.get(TOKEN) or read_secrets(devstack_home()).get(TOKEN, "")


async def run(addr: str) -> int:
    token = uuid.uuid4().hex
    async with HelicaseClient(addr, token=demo_token()) as client:
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
    experiment_ok = await run_experiment(addr, devstack_home())
    print()
    print("Try it with grpcurl (installed in .helicase/bin), with the tokens `make up` wrote:")
    print(f"  set -a; . {devstack_home() / SECRETS_FILE}; set +a")
    print(f"  .helicase/bin/grpcurl -plaintext {addr} list")
    auth = '-H "authorization: Bearer $HELICASE_TOKEN"'
    print(
        f"  .helicase/bin/grpcurl -plaintext {auth} -d @ {addr}"
        " helicase.v1.WorkflowService/CreateWorkflow < examples/hello.json"
    )
    print(
        f'  .helicase/bin/grpcurl -plaintext {auth} -d \'{{"id": "{started["diamond"]}"}}\' {addr} '
        "helicase.v1.WorkflowService/GetWorkflow"
    )
    print("The suite keeps running: `make status` shows it, `make down` stops it.")
    web = WEB_LISTEN.read()
    print(f"Composer (draw, run and watch workflows in the browser): http://{web}/")
    print(f"  sign in with the API key HELICASE_TOKEN in {devstack_home() / SECRETS_FILE}")
    return 0 if ok and experiment_ok is not False else 1


# --- one Airavata experiment on the local suite's loopback SSH + SLURM (helicase.devstack) ------

EXPERIMENT_STATE = experiment_pb2.ExperimentState
EXPERIMENT_PROGRAM = """#!/bin/sh
# sums the numbers of $1 into $2
awk '{ s += $1 } END { print "sum=" s }' "$1" > "$2"
"""
TERMINAL = (
    experiment_pb2.EXPERIMENT_STATE_COMPLETED,
    experiment_pb2.EXPERIMENT_STATE_FAILED,
    experiment_pb2.EXPERIMENT_STATE_CANCELED,
)
EXPERIMENT_TIMEOUT = 300.0


def request_id(kind: str, *facts: object) -> str:
    """The same resource gets the same request id, so registering again returns the first one;
    a changed one (new host key, port, ...) is registered anew."""
    digest = hashlib.sha256(repr((kind, *facts)).encode()).hexdigest()[:24]
    return f"demo-{kind}-{digest}"


async def register(channel: grpc.aio.Channel, cluster: ClusterInfo) -> tuple[str, str, str]:
    """Registers the loopback cluster, its SFTP storage and the client key (idempotent);
    returns the compute resource, storage resource and credential ids."""
    resources = resource_pb2_grpc.ResourceServiceStub(channel)
    compute = resource_pb2.ComputeResource(
        display_name="loopback slurm", host=cluster.host, port=cluster.ssh_port,
        login_user=cluster.user, batch_system=resource_pb2.BATCH_SYSTEM_SLURM,
        scratch_root=cluster.scratch_root, default_queue="debug", host_key=cluster.host_key,
    )  # fmt: skip
    storage = resource_pb2.StorageResource(
        display_name="loopback sftp", host=cluster.host, port=cluster.ssh_port,
        login_user=cluster.user, root_path=cluster.storage_root, host_key=cluster.host_key,
    )  # fmt: skip
    key = cluster.client_private_key
    made_compute = await resources.CreateComputeResource(
        resource_pb2.CreateComputeResourceRequest(
            request_id=request_id("compute", compute.SerializeToString(deterministic=True)),
            compute_resource=compute,
        )
    )
    made_storage = await resources.CreateStorageResource(
        resource_pb2.CreateStorageResourceRequest(
            request_id=request_id("storage", storage.SerializeToString(deterministic=True)),
            storage_resource=storage,
        )
    )
    made_credential = await resources.CreateCredential(
        resource_pb2.CreateCredentialRequest(
            request_id=request_id("credential", key),
            credential=resource_pb2.Credential(display_name="demo key", private_key=key),
        )
    )
    compute_id = made_compute.compute_resource.id
    storage_id = made_storage.storage_resource.id
    credential = made_credential.credential
    print(f"compute resource {compute_id}: SLURM over ssh://{cluster.user}@{cluster.host}:"
          f"{cluster.ssh_port} (scratch {cluster.scratch_root})")  # fmt: skip
    print(f"storage resource {storage_id}: sftp://{cluster.user}@{cluster.host}:"
          f"{cluster.ssh_port}{cluster.storage_root}")  # fmt: skip
    print(f"credential {credential.id}: {credential.fingerprint}")
    return compute_id, storage_id, credential.id


async def run_experiment(addr: str, home: Path) -> bool | None:
    """Runs one experiment on the loopback cluster `make up` started: a small program reads a
    staged input and writes a result, which is staged back to the storage. None when there is
    no cluster (not root, packages missing, not started)."""
    cluster = describe_local_cluster(home)
    if isinstance(cluster, str):
        print(f"skipping the experiment on the local SSH + SLURM: {cluster}")
        return None
    folder = f"demo/{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    staged = Path(cluster.storage_root) / folder
    staged.mkdir(parents=True)
    (staged / "numbers.txt").write_text("3\n4\n5\n")
    (staged / "sum.sh").write_text(EXPERIMENT_PROGRAM)
    print(f"inputs numbers.txt (3 4 5) and sum.sh written to the storage, {staged}")

    def file(name: str) -> experiment_pb2.ExperimentFile:
        return experiment_pb2.ExperimentFile(storage_path=f"{folder}/{name}", name=name)

    async with wire.channel(addr, token=demo_token()) as channel:
        compute_id, storage_id, credential_id = await register(channel, cluster)
        experiments = experiment_pb2_grpc.ExperimentServiceStub(channel)
        made = await experiments.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(
                request_id=uuid.uuid4().hex,
                experiment=experiment_pb2.Experiment(
                    display_name="sum numbers",
                    application=experiment_pb2.ApplicationSpec(
                        executable="/bin/sh", arguments=["sum.sh", "numbers.txt", "result.txt"]
                    ),
                    inputs=[file("numbers.txt"), file("sum.sh")],
                    outputs=[file("result.txt")],
                    compute_resource_id=compute_id,
                    storage_resource_id=storage_id,
                    credential_id=credential_id,
                    resource_request=experiment_pb2.ResourceRequest(walltime_minutes=5),
                ),
            )
        )
        experiment_id = made.experiment.id
        print(f"experiment {experiment_id} (workflow {made.experiment.workflow_id})")
        got = made.experiment
        last = None
        deadline = time.monotonic() + EXPERIMENT_TIMEOUT
        while time.monotonic() < deadline:
            got = (
                await experiments.GetExperiment(
                    experiment_pb2.GetExperimentRequest(id=experiment_id)
                )
            ).experiment
            if got.state != last:
                last = got.state
                job = f" (job {got.job_id})" if got.job_id else ""
                name = EXPERIMENT_STATE.Name(got.state).removeprefix("EXPERIMENT_STATE_")
                print(f"  [experiment] {name}{job}", flush=True)
            if got.state in TERMINAL:
                break
            await asyncio.sleep(0.5)
    state = EXPERIMENT_STATE.Name(got.state).removeprefix("EXPERIMENT_STATE_")
    print()
    print(f"experiment {experiment_id}  {state}  {got.message}")
    print(f"    SLURM job id: {got.job_id or '-'}  exit code: {got.job_exit_code}")
    print(f"    working directory on the cluster: {got.remote_dir or '-'}")
    for location in got.output_locations:
        print(f"    output: {location}")
    print(f"    archive: {got.archive_location or '-'}")
    result = staged / "result.txt"
    content = result.read_text().strip() if result.exists() else "(missing)"
    print(f"    result.txt staged back to {result}: {content}")
    return bool(got.state == experiment_pb2.EXPERIMENT_STATE_COMPLETED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=API_ADDR.read())
    parser.add_argument("--experiment", action="store_true", help="run the experiment only")
    args = parser.parse_args()
    if args.experiment:
        sys.exit(0 if asyncio.run(run_experiment(args.api, devstack_home())) else 1)
    sys.exit(asyncio.run(run(args.api)))


if __name__ == "__main__":
    main()

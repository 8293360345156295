"""Experiments end to end: a suite whose participants serve the airavata.* types, the resource
registry in the API, and the loopback cluster (real sshd, real one-node SLURM). A small program
reads its staged input, writes a result through SLURM, and the result is staged back."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from helicase import wire
from helicase.api.experiments.steps import job_name
from helicase.api.resources.credentials import new_master_key
from helicase.client import HelicaseClient
from helicase.common.states import TS
from helicase.common.status import field_violations
from helicase.devstack import free_port, pki
from helicase.devstack.testing import LoopbackCluster
from helicase.participant.airavata import TYPES
from helicase.v1 import experiment_pb2, experiment_pb2_grpc, resource_pb2, resource_pb2_grpc

ES = experiment_pb2.ExperimentState
PROGRAM = """#!/bin/sh
# sums the numbers of $1 into $2
awk '{ s += $1 } END { print "sum=" s }' "$1" > "$2"
echo "ran on $(hostname) as job $SLURM_JOB_ID"
"""


@pytest.fixture(scope="module")
def hpc_suite(make_module_suite: Any, hpc_cluster: LoopbackCluster) -> Any:
    return make_module_suite(
        extra_env={
            "HELICASE_CREDENTIAL_KEY": new_master_key(),
            "HELICASE_PARTICIPANT_TASK_TYPES": ",".join(["noop", "sleep", "shell", *TYPES]),
        }
    )


async def register(
    channel: grpc.aio.Channel, cluster: LoopbackCluster, storage_root: Path, *, host_key: str
) -> dict[str, str]:
    stub = resource_pb2_grpc.ResourceServiceStub(channel)
    compute = await stub.CreateComputeResource(
        resource_pb2.CreateComputeResourceRequest(
            compute_resource=resource_pb2.ComputeResource(
                display_name="loopback slurm", host=cluster.host, port=cluster.ssh_port,
                login_user=cluster.user, batch_system=resource_pb2.BATCH_SYSTEM_SLURM,
                scratch_root=str(cluster.home / "scratch"), default_queue="debug",
                host_key=host_key,
            )
        )
    )  # fmt: skip
    storage = await stub.CreateStorageResource(
        resource_pb2.CreateStorageResourceRequest(
            storage_resource=resource_pb2.StorageResource(
                display_name="loopback sftp", host=cluster.host, port=cluster.ssh_port,
                login_user=cluster.user, root_path=str(storage_root), host_key=cluster.host_key,
            )
        )
    )  # fmt: skip
    credential = await stub.CreateCredential(
        resource_pb2.CreateCredentialRequest(
            credential=resource_pb2.Credential(
                display_name="gateway key", private_key=cluster.client_private_key
            )
        )
    )
    return {
        "compute_resource_id": compute.compute_resource.id,
        "storage_resource_id": storage.storage_resource.id,
        "credential_id": credential.credential.id,
    }


def experiment(ids: dict[str, str], run: str) -> experiment_pb2.Experiment:
    return experiment_pb2.Experiment(
        display_name="sum numbers",
        application=experiment_pb2.ApplicationSpec(
            executable="/bin/sh", arguments=["sum.sh", "numbers.txt", "result.txt"]
        ),
        inputs=[
            experiment_pb2.ExperimentFile(storage_path=f"{run}/in/numbers.txt", name="numbers.txt"),
            experiment_pb2.ExperimentFile(storage_path=f"{run}/in/sum.sh", name="sum.sh"),
        ],
        outputs=[
            experiment_pb2.ExperimentFile(storage_path=f"{run}/out/result.txt", name="result.txt"),
            experiment_pb2.ExperimentFile(storage_path=f"{run}/out/job.out", name="job.out"),
        ],
        resource_request=experiment_pb2.ResourceRequest(
            nodes=1, cores=1, memory_mb=64, walltime_minutes=5
        ),
        compute_resource_id=ids["compute_resource_id"],
        storage_resource_id=ids["storage_resource_id"],
        credential_id=ids["credential_id"],
    )


async def wait_for_end(
    stub: experiment_pb2_grpc.ExperimentServiceStub, experiment_id: str, within: float = 120
) -> experiment_pb2.Experiment:
    seen: list[experiment_pb2.ExperimentState.ValueType] = []
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        reply = await stub.GetExperiment(experiment_pb2.GetExperimentRequest(id=experiment_id))
        got = experiment_pb2.Experiment()
        got.CopyFrom(reply.experiment)
        if not seen or seen[-1] != got.state:
            seen.append(got.state)
        if got.state in (
            ES.EXPERIMENT_STATE_COMPLETED,
            ES.EXPERIMENT_STATE_FAILED,
            ES.EXPERIMENT_STATE_CANCELED,
        ):
            return got
        await asyncio.sleep(0.3)
    raise AssertionError(f"experiment still going; states {[ES.Name(s) for s in seen]}")


def put(storage_root: Path, path: str, text: str) -> None:
    target = storage_root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


async def test_an_experiment_runs_its_program_through_slurm_and_stages_the_result_back(
    hpc_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = hpc_cluster.home / f"storage-{hpc_suite.namespace}"
    run = f"run-{uuid.uuid4().hex[:6]}"
    put(storage_root, f"{run}/in/numbers.txt", "3\n4\n5\n")
    put(storage_root, f"{run}/in/sum.sh", PROGRAM)
    async with wire.channel(hpc_suite.api_addr, token=hpc_suite.token) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        request_id = uuid.uuid4().hex
        made = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(
                request_id=request_id, experiment=experiment(ids, run)
            )
        )
        created = made.experiment
        assert created.workflow_id and created.state == ES.EXPERIMENT_STATE_CREATED
        again = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(
                request_id=request_id, experiment=experiment(ids, run)
            )
        )
        assert (again.experiment.id, again.experiment.workflow_id) == (
            created.id,
            created.workflow_id,
        )

        done = await wait_for_end(stub, created.id)
        assert done.state == ES.EXPERIMENT_STATE_COMPLETED, (
            done.message,
            hpc_suite.log("participant-1"),
        )
        listed = await stub.ListExperiments(experiment_pb2.ListExperimentsRequest())
        assert created.id in [e.id for e in listed.experiments]

    assert (storage_root / run / "out" / "result.txt").read_text() == "sum=12\n"
    assert done.job_id.isdigit()
    assert (storage_root / run / "out" / "job.out").read_text().endswith(f"as job {done.job_id}\n")
    assert done.job_exit_code == 0
    assert done.remote_dir == str(hpc_cluster.home / "scratch" / f"experiment-{created.id}")
    base = f"sftp://{hpc_cluster.user}@{hpc_cluster.host}:{hpc_cluster.ssh_port}{storage_root}"
    assert list(done.output_locations) == [
        f"{base}/{run}/out/result.txt",
        f"{base}/{run}/out/job.out",
    ]
    archive = storage_root / "experiments" / created.id / "archive.tar.gz"
    assert done.archive_location == f"{base}/experiments/{created.id}/archive.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes())) as tar:
        assert "./result.txt" in tar.getnames()
    # exactly one batch job for the experiment's submit task
    jobs = hpc_cluster.ssh(f"squeue -h -t all -n {job_name(created.id)} -o %i")
    assert jobs.stdout.split() == [done.job_id]

    async with HelicaseClient(hpc_suite.api_addr, token=hpc_suite.token) as client:
        workflow = await client.get(created.workflow_id)
    assert [t.id for t in workflow.tasks] == [
        "env-setup", "stage-in", "submit", "monitor", "stage-out", "archive"
    ]  # fmt: skip
    assert {t.state for t in workflow.tasks} == {TS.TASK_STATE_COMPLETED}


async def test_a_cluster_presenting_another_host_key_fails_the_experiment_for_good(
    hpc_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = hpc_cluster.home / f"storage-{hpc_suite.namespace}"
    run = f"run-{uuid.uuid4().hex[:6]}"
    put(storage_root, f"{run}/in/numbers.txt", "1\n")
    put(storage_root, f"{run}/in/sum.sh", PROGRAM)
    wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    async with wire.channel(hpc_suite.api_addr, token=hpc_suite.token) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=wrong)
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        made = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(experiment=experiment(ids, run))
        )
        done = await wait_for_end(stub, made.experiment.id)
    assert done.state == ES.EXPERIMENT_STATE_FAILED
    assert "host key" in done.message
    async with HelicaseClient(hpc_suite.api_addr, token=hpc_suite.token) as client:
        workflow = await client.get(made.experiment.workflow_id)
    env_setup = next(t for t in workflow.tasks if t.id == "env-setup")
    assert env_setup.state == TS.TASK_STATE_FATAL_FAILED
    assert env_setup.attempt == 1  # not retried
    assert {t.state for t in workflow.tasks if t.id != "env-setup"} == {TS.TASK_STATE_SKIPPED}


async def test_an_experiment_naming_unknown_resources_is_refused_with_field_violations(
    hpc_suite: Any,
) -> None:
    bad = experiment_pb2.Experiment(
        application=experiment_pb2.ApplicationSpec(executable=""),
        compute_resource_id=str(uuid.uuid4()),
        storage_resource_id="nope",
        credential_id=str(uuid.uuid4()),
        inputs=[experiment_pb2.ExperimentFile(storage_path="../etc/passwd", name="x")],
    )
    async with wire.channel(hpc_suite.api_addr, token=hpc_suite.token) as channel:
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateExperiment(experiment_pb2.CreateExperimentRequest(experiment=bad))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(v.field for v in field_violations(info.value)) == [
            "experiment.application.executable",
            "experiment.inputs[0].storage_path",
        ]
        bad.application.executable = "true"
        bad.inputs[0].storage_path = "in/x"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateExperiment(experiment_pb2.CreateExperimentRequest(experiment=bad))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND  # as another tenant's would be
        for field in ("compute_resource_id", "credential_id", "storage_resource_id"):
            assert f"experiment.{field}" in (info.value.details() or "")


async def test_cancelling_an_experiment_cancels_its_batch_job_on_the_cluster(
    hpc_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = hpc_cluster.home / f"storage-{hpc_suite.namespace}"
    storage_root.mkdir(parents=True, exist_ok=True)
    async with wire.channel(hpc_suite.api_addr, token=hpc_suite.token) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        long_job = experiment_pb2.Experiment(
            display_name="a long job",
            application=experiment_pb2.ApplicationSpec(executable="sleep", arguments=["300"]),
            compute_resource_id=ids["compute_resource_id"],
            storage_resource_id=ids["storage_resource_id"],
            credential_id=ids["credential_id"],
        )
        made = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(experiment=long_job)
        )
        experiment_id = made.experiment.id
        for _ in range(200):
            got = (
                await stub.GetExperiment(experiment_pb2.GetExperimentRequest(id=experiment_id))
            ).experiment
            if got.state == ES.EXPERIMENT_STATE_JOB_ACTIVE and got.job_id:
                break
            await asyncio.sleep(0.3)
        assert got.state == ES.EXPERIMENT_STATE_JOB_ACTIVE, ES.Name(got.state)
        job_id = got.job_id
        looked = hpc_cluster.ssh(f"scontrol show job -o {job_id}").stdout
        assert "JobState=PENDING" in looked or "JobState=RUNNING" in looked

        cancelled = await stub.CancelExperiment(
            experiment_pb2.CancelExperimentRequest(id=experiment_id, reason="test")
        )
        assert cancelled.cleanup_workflow_id
        again = await stub.CancelExperiment(
            experiment_pb2.CancelExperimentRequest(id=experiment_id)
        )
        assert again.cleanup_workflow_id == cancelled.cleanup_workflow_id
        done = await wait_for_end(stub, experiment_id)
    assert done.state == ES.EXPERIMENT_STATE_CANCELED
    async with HelicaseClient(hpc_suite.api_addr, token=hpc_suite.token) as client:
        cleanup = await client.wait(cancelled.cleanup_workflow_id, within=60)
    assert [t.state for t in cleanup.tasks] == [TS.TASK_STATE_COMPLETED]
    assert "JobState=CANCELLED" in hpc_cluster.ssh(f"scontrol show job -o {job_id}").stdout


async def test_an_experiment_in_its_own_group_runs_on_that_groups_participant_with_fork(
    hpc_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    name = f"{hpc_suite.namespace}-hpc"
    env = {
        **hpc_suite.env,
        "HELICASE_PARTICIPANT_NAME": name,
        "HELICASE_PARTICIPANT_ADDR": f"127.0.0.1:{free_port()}",
        "HELICASE_PARTICIPANT_GROUP": "hpc",
        "HELICASE_PARTICIPANT_TASK_TYPES": ",".join(TYPES),
        **pki.tls_env(hpc_suite.certificate("participant", name, "hpc")),
    }
    hpc_participant = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "helicase.participant", env=env, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        storage_root = hpc_cluster.home / f"storage-{hpc_suite.namespace}"
        run = f"run-{uuid.uuid4().hex[:6]}"
        put(storage_root, f"{run}/in/numbers.txt", "10\n20\n")
        put(storage_root, f"{run}/in/sum.sh", PROGRAM)
        async with HelicaseClient(hpc_suite.api_addr, token=hpc_suite.token) as client:
            for _ in range(100):
                served = {t.name: list(t.instance_groups) for t in await client.task_types()}
                if "hpc" in served.get("airavata.submit_job", []):
                    break
                await asyncio.sleep(0.2)
            assert sorted(served["airavata.submit_job"]) == ["default", "hpc"]
        async with wire.channel(hpc_suite.api_addr, token=hpc_suite.token) as channel:
            ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
            fork = await resource_pb2_grpc.ResourceServiceStub(channel).CreateComputeResource(
                resource_pb2.CreateComputeResourceRequest(
                    compute_resource=resource_pb2.ComputeResource(
                        display_name="login node, no scheduler", host=hpc_cluster.host,
                        port=hpc_cluster.ssh_port, login_user=hpc_cluster.user,
                        batch_system=resource_pb2.BATCH_SYSTEM_FORK,
                        scratch_root=str(hpc_cluster.home / "scratch"),
                        host_key=hpc_cluster.host_key,
                    )
                )
            )  # fmt: skip
            spec = experiment(ids, run)
            spec.compute_resource_id = fork.compute_resource.id
            spec.instance_group = "hpc"
            stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
            made = await stub.CreateExperiment(
                experiment_pb2.CreateExperimentRequest(experiment=spec)
            )
            done = await wait_for_end(stub, made.experiment.id)
        assert done.state == ES.EXPERIMENT_STATE_COMPLETED, done.message
        assert done.job_id.startswith("fork-")
        assert (storage_root / run / "out" / "result.txt").read_text() == "sum=30\n"
        async with HelicaseClient(hpc_suite.api_addr, token=hpc_suite.token) as client:
            workflow = await client.get(made.experiment.workflow_id)
        assert {t.participant for t in workflow.tasks} == {name}
    finally:
        hpc_participant.terminate()
        try:
            await asyncio.wait_for(hpc_participant.wait(), timeout=15)
        except TimeoutError:
            hpc_participant.kill()
            await hpc_participant.wait()

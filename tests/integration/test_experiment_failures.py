"""Experiments that meet trouble, end to end (a real suite, the loopback sshd and SLURM): a key
the cluster refuses, sshd going away during stage-in, a cancel while the job waits in the queue,
a participant killed while submitting, and the private key kept out of every response, log line,
event and table row."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from helicase import wire
from helicase.api.experiments.steps import job_name
from helicase.api.resources.credentials import new_master_key
from helicase.common.states import TS
from helicase.devstack.testing import LoopbackCluster
from helicase.participant.airavata import TYPES
from helicase.v1 import (
    experiment_pb2,
    experiment_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)
from tests.integration.test_experiments import PROGRAM, experiment, put, register, wait_for_end

ES = experiment_pb2.ExperimentState


@pytest.fixture(scope="module")
def failures_suite(make_module_suite: Any, hpc_cluster: LoopbackCluster) -> Any:
    return make_module_suite(
        extra_env={
            "HELICASE_CREDENTIAL_KEY": new_master_key(),
            "HELICASE_PARTICIPANT_TASK_TYPES": ",".join(["noop", "sleep", "shell", *TYPES]),
        }
    )


async def get_workflow(channel: grpc.aio.Channel, workflow_id: str) -> workflow_pb2.Workflow:
    stub = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
    view = workflow_pb2.WORKFLOW_VIEW_FULL
    request = workflow_service_pb2.GetWorkflowRequest(id=workflow_id, view=view)
    reply = await stub.GetWorkflow(request)
    workflow: workflow_pb2.Workflow = reply.workflow
    return workflow


def task_of(workflow: workflow_pb2.Workflow, task_id: str) -> workflow_pb2.Task:
    return next(t for t in workflow.tasks if t.id == task_id)


async def wait_task_state(
    channel: grpc.aio.Channel,
    workflow_id: str,
    task_id: str,
    state: workflow_pb2.TaskState.ValueType,
    within: float = 60,
) -> workflow_pb2.Task:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        task = task_of(await get_workflow(channel, workflow_id), task_id)
        if task.state == state:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never reached {TS.Name(state)}: {TS.Name(task.state)}")


def storage_for(suite: Any, cluster: LoopbackCluster) -> Path:
    root = cluster.home / f"storage-{suite.namespace}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def standard_inputs(storage_root: Path) -> str:
    run = f"run-{uuid.uuid4().hex[:6]}"
    put(storage_root, f"{run}/in/numbers.txt", "3\n4\n5\n")
    put(storage_root, f"{run}/in/sum.sh", PROGRAM)
    return run


def job_ids(cluster: LoopbackCluster, name: str) -> list[str]:
    """Every job of that name slurmctld still knows (finished ones included: MinJobAge=600)."""
    done = cluster.ssh(f"squeue -h -t all -n {name} -o %i")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


async def test_a_key_the_cluster_refuses_fails_the_experiment_after_one_attempt(
    failures_suite: Any, hpc_cluster: LoopbackCluster, tmp_path: Path
) -> None:
    storage_root = storage_for(failures_suite, hpc_cluster)
    run = standard_inputs(storage_root)
    stranger = tmp_path / "id_stranger"
    keygen = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert await keygen.wait() == 0
    async with wire.channel(failures_suite.api_addr, token=failures_suite.token) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
        made_key = await resource_pb2_grpc.ResourceServiceStub(channel).CreateCredential(
            resource_pb2.CreateCredentialRequest(
                credential=resource_pb2.Credential(
                    display_name="not authorized", private_key=stranger.read_text()
                )
            )
        )
        ids["credential_id"] = made_key.credential.id
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        made = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(experiment=experiment(ids, run))
        )
        done = await wait_for_end(stub, made.experiment.id)
        workflow = await get_workflow(channel, made.experiment.workflow_id)
    assert done.state == ES.EXPERIMENT_STATE_FAILED, ES.Name(done.state)
    assert "authentication" in done.message, done.message
    first = task_of(workflow, "env-setup")
    assert workflow.tasks[0].id == "env-setup"
    assert first.state == TS.TASK_STATE_FATAL_FAILED, TS.Name(first.state)
    assert first.attempt == 1
    assert [(a.attempt, a.state) for a in first.attempts] == [(1, TS.TASK_STATE_FATAL_FAILED)]
    assert {t.state for t in workflow.tasks[1:]} == {TS.TASK_STATE_SKIPPED}
    assert job_ids(hpc_cluster, job_name(made.experiment.id)) == []


async def test_sshd_stopped_during_stage_in_is_retried_and_the_experiment_completes(
    failures_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = storage_for(failures_suite, hpc_cluster)
    run = standard_inputs(storage_root)
    # big enough that stage-in is still copying when sshd goes away
    (storage_root / run / "in" / "big.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    async with wire.channel(failures_suite.api_addr, token=failures_suite.token) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
        spec = experiment(ids, run)
        spec.inputs.append(
            experiment_pb2.ExperimentFile(storage_path=f"{run}/in/big.bin", name="big.bin")
        )
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        made = await stub.CreateExperiment(experiment_pb2.CreateExperimentRequest(experiment=spec))
        workflow_id = made.experiment.workflow_id
        await wait_task_state(channel, workflow_id, "stage-in", TS.TASK_STATE_RUNNING)
        hpc_cluster.stop_sshd()
        try:
            await asyncio.sleep(3)
        finally:
            hpc_cluster.start_sshd()
        done = await wait_for_end(stub, made.experiment.id, within=240)
        workflow = await get_workflow(channel, workflow_id)
    assert done.state == ES.EXPERIMENT_STATE_COMPLETED, (
        done.message,
        failures_suite.log("participant-1"),
        failures_suite.log("participant-2"),
    )
    stage_in = task_of(workflow, "stage-in")
    assert stage_in.state == TS.TASK_STATE_COMPLETED
    attempts = [(a.attempt, TS.Name(a.state), a.message) for a in stage_in.attempts]
    assert stage_in.attempt > 1, attempts
    assert len(stage_in.attempts) > 1, attempts
    assert attempts[0][1] == "TASK_STATE_FAILED", attempts
    assert attempts[-1][1] == "TASK_STATE_COMPLETED", attempts
    assert (storage_root / run / "out" / "result.txt").read_text() == "sum=12\n"
    assert len(job_ids(hpc_cluster, job_name(made.experiment.id))) == 1


async def test_cancelling_an_experiment_whose_job_is_queued_removes_it_from_squeue(
    failures_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = storage_for(failures_suite, hpc_cluster)
    blocker = hpc_cluster.ssh(
        f"sbatch --parsable --exclusive -J blocker-{failures_suite.namespace} "
        f"-o /dev/null --wrap 'sleep 300'"
    )
    assert blocker.returncode == 0, blocker.stderr
    blocker_id = blocker.stdout.strip().split(";")[0]
    try:
        for _ in range(100):
            if hpc_cluster.ssh(f"squeue -h -j {blocker_id} -o %T").stdout.strip() == "RUNNING":
                break
            await asyncio.sleep(0.2)
        assert hpc_cluster.ssh(f"squeue -h -j {blocker_id} -o %T").stdout.strip() == "RUNNING"
        async with wire.channel(failures_suite.api_addr, token=failures_suite.token) as channel:
            ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
            stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
            queued = experiment_pb2.Experiment(
                display_name="waits for the node",
                application=experiment_pb2.ApplicationSpec(executable="sleep", arguments=["5"]),
                compute_resource_id=ids["compute_resource_id"],
                storage_resource_id=ids["storage_resource_id"],
                credential_id=ids["credential_id"],
            )
            made = await stub.CreateExperiment(
                experiment_pb2.CreateExperimentRequest(experiment=queued)
            )
            experiment_id = made.experiment.id
            for _ in range(300):
                got = (
                    await stub.GetExperiment(experiment_pb2.GetExperimentRequest(id=experiment_id))
                ).experiment
                if got.state == ES.EXPERIMENT_STATE_JOB_ACTIVE and got.job_id:
                    break
                await asyncio.sleep(0.2)
            assert got.state == ES.EXPERIMENT_STATE_JOB_ACTIVE, (ES.Name(got.state), got.message)
            job_id = got.job_id
            looked = hpc_cluster.ssh(f"scontrol show job -o {job_id}").stdout
            assert "JobState=PENDING" in looked, looked
            name = job_name(experiment_id)
            assert hpc_cluster.ssh(f"squeue -h -n {name} -o %i").stdout.split() == [job_id]

            cancelled = await stub.CancelExperiment(
                experiment_pb2.CancelExperimentRequest(id=experiment_id, reason="test")
            )
            done = await wait_for_end(stub, experiment_id)
            assert done.state == ES.EXPERIMENT_STATE_CANCELED, ES.Name(done.state)
            for _ in range(150):
                cleanup = await get_workflow(channel, cancelled.cleanup_workflow_id)
                if cleanup.tasks and cleanup.tasks[0].state == TS.TASK_STATE_COMPLETED:
                    break
                await asyncio.sleep(0.2)
            assert [t.state for t in cleanup.tasks] == [TS.TASK_STATE_COMPLETED]
        # squeue (pending and running jobs) no longer lists it; slurmctld remembers it cancelled
        assert hpc_cluster.ssh(f"squeue -h -n {name} -o %i").stdout.split() == []
        assert "JobState=CANCELLED" in hpc_cluster.ssh(f"scontrol show job -o {job_id}").stdout
        assert job_ids(hpc_cluster, name) == [job_id]
    finally:
        hpc_cluster.ssh(f"scancel {blocker_id}")


async def test_a_participant_killed_during_submit_does_not_submit_a_second_job(
    failures_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = storage_for(failures_suite, hpc_cluster)
    killed: str | None = None
    lock_fd: int | None = None
    try:
        async with wire.channel(failures_suite.api_addr, token=failures_suite.token) as channel:
            ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
            stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
            short = experiment_pb2.Experiment(
                display_name="submitted once",
                application=experiment_pb2.ApplicationSpec(executable="echo", arguments=["hi"]),
                compute_resource_id=ids["compute_resource_id"],
                storage_resource_id=ids["storage_resource_id"],
                credential_id=ids["credential_id"],
            )
            made = await stub.CreateExperiment(
                experiment_pb2.CreateExperimentRequest(experiment=short)
            )
            experiment_id, workflow_id = made.experiment.id, made.experiment.workflow_id
            name = job_name(experiment_id)
            # Hold the submit's own lock (flock(2), as `flock -o` takes it) so the submit task
            # stays RUNNING inside its remote shell until the participant is killed.
            state_dir = hpc_cluster.home / "scratch" / f"experiment-{experiment_id}" / ".helicase"
            state_dir.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(state_dir / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)

            submit = await wait_task_state(channel, workflow_id, "submit", TS.TASK_STATE_RUNNING)
            await asyncio.sleep(1)  # the remote shell is waiting on the lock
            assert submit.participant in failures_suite.participant_names, submit.participant
            killed = f"participant-{failures_suite.participant_names.index(submit.participant) + 1}"
            failures_suite.kill(killed)
            killed_at = time.time()
            await asyncio.sleep(1)
            assert not failures_suite.supervisor.running(killed)
            os.close(lock_fd)
            lock_fd = None
            failures_suite.start(killed)
            killed = None

            done = await wait_for_end(stub, experiment_id, within=180)
            workflow = await get_workflow(channel, workflow_id)
        assert done.state == ES.EXPERIMENT_STATE_COMPLETED, (ES.Name(done.state), done.message)
        submitted = task_of(workflow, "submit")
        runs = [(a.attempt, a.participant, TS.Name(a.state)) for a in submitted.attempts]
        # The submit held the lock until after the kill, so a later run finished it.
        assert submitted.end_time.ToSeconds() >= int(killed_at), runs
        assert job_ids(hpc_cluster, name) == [done.job_id], runs
        shown = hpc_cluster.ssh("scontrol show jobs -o").stdout
        assert sum(f"JobName={name} " in line for line in shown.splitlines()) == 1
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        if killed is not None:
            failures_suite.start(killed)


class _Recorder(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Keeps every unary response the channel receives."""

    def __init__(self) -> None:
        self.responses: list[Message] = []

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        call = await continuation(client_call_details, request)
        self.responses.append(await call)
        return call


def _needles(private_key: str) -> list[bytes]:
    lines = [line.strip() for line in private_key.strip().splitlines()]
    body = [line for line in lines[1:-1] if len(line) >= 16]
    assert body and lines[0].startswith("-----BEGIN")
    return [b"PRIVATE KEY-----", *(line.encode() for line in body)]


def _found(needles: list[bytes], data: bytes) -> list[bytes]:
    return [n for n in needles if n in data or n.hex().encode() in data]


async def test_the_private_key_appears_in_no_response_log_event_or_row(
    failures_suite: Any, hpc_cluster: LoopbackCluster
) -> None:
    storage_root = storage_for(failures_suite, hpc_cluster)
    run = standard_inputs(storage_root)
    needles = _needles(hpc_cluster.client_private_key)
    recorder = _Recorder()
    async with grpc.aio.insecure_channel(
        failures_suite.api_addr,
        interceptors=[*wire.bearer_interceptors(failures_suite.token), recorder],
    ) as channel:
        ids = await register(channel, hpc_cluster, storage_root, host_key=hpc_cluster.host_key)
        resources = resource_pb2_grpc.ResourceServiceStub(channel)
        await resources.GetCredential(resource_pb2.GetCredentialRequest(id=ids["credential_id"]))
        await resources.ListCredentials(resource_pb2.ListCredentialsRequest())
        await resources.GetComputeResource(
            resource_pb2.GetComputeResourceRequest(id=ids["compute_resource_id"])
        )
        await resources.ListComputeResources(resource_pb2.ListComputeResourcesRequest())
        await resources.GetStorageResource(
            resource_pb2.GetStorageResourceRequest(id=ids["storage_resource_id"])
        )
        await resources.ListStorageResources(resource_pb2.ListStorageResourcesRequest())
        stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
        made = await stub.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(experiment=experiment(ids, run))
        )
        done = await wait_for_end(stub, made.experiment.id)
        assert done.state == ES.EXPERIMENT_STATE_COMPLETED, done.message
        await stub.ListExperiments(experiment_pb2.ListExperimentsRequest())
        workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
        await get_workflow(channel, made.experiment.workflow_id)
        await workflows.ListWorkflows(workflow_service_pb2.ListWorkflowsRequest())
    assert len(recorder.responses) >= 12
    for response in recorder.responses:
        serialized = response.SerializeToString() + json_format.MessageToJson(response).encode()
        assert _found(needles, serialized) == [], type(response).__name__

    logs = sorted((failures_suite.supervisor.home / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"api", "participant-1", "participant-2"}, logs
    for log in logs:
        assert _found(needles, log.read_bytes()) == [], log

    with psycopg.connect(failures_suite.database_url) as conn:
        events = conn.execute(
            "SELECT payload FROM events WHERE workflow_id = %s", (made.experiment.workflow_id,)
        ).fetchall()
        assert len(events) >= 12
        for (payload,) in events:
            assert _found(needles, bytes(payload)) == []
        params = conn.execute(
            "SELECT definition FROM workflows WHERE id = %s", (made.experiment.workflow_id,)
        ).fetchone()
        assert params is not None and b"credential_id" in bytes(params[0])
        outputs = conn.execute(
            "SELECT outputs::text FROM tasks WHERE workflow_id = %s",
            (made.experiment.workflow_id,),
        ).fetchall()
        assert len(outputs) == 6
        # every row of every table, bytea shown in hex (the sealed key must not open to text)
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        assert "events" in {t for (t,) in tables}
        for (table,) in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            for (row,) in rows:
                assert _found(needles, row.encode()) == [], table

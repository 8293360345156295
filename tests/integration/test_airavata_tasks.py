"""The Airavata task types run one by one against the loopback cluster: a real sshd (SFTP, host
key pinned) and a real one-node SLURM, with the private key from a static credential store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import tarfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from helicase.devstack.testing import LoopbackCluster
from helicase.internal.v1 import participant_pb2
from helicase.participant.airavata import StaticCredentials, use_credential_store
from helicase.participant.airavata._script import job_key
from helicase.participant.runner import RunResult, run_task
from helicase.participant.sdk import TASK_TYPES, TaskContext

Outcome = participant_pb2.TaskOutcome
CREDENTIAL = "cred-test"


@pytest.fixture
def cluster(hpc_cluster: LoopbackCluster) -> Iterator[LoopbackCluster]:
    use_credential_store(StaticCredentials({CREDENTIAL: hpc_cluster.client_private_key}))
    (hpc_cluster.home / "storage").mkdir(exist_ok=True)
    (hpc_cluster.home / "scratch").mkdir(exist_ok=True)
    yield hpc_cluster
    use_credential_store(None)


def compute(c: LoopbackCluster, **over: Any) -> dict[str, Any]:
    return {
        "host": c.host,
        "port": c.ssh_port,
        "user": c.user,
        "host_key": c.host_key,
        "credential_id": CREDENTIAL,
        "batch_system": "SLURM",
        "scratch_root": str(c.home / "scratch"),
        **over,
    }


def storage(c: LoopbackCluster, **over: Any) -> dict[str, Any]:
    return {
        "host": c.host,
        "port": c.ssh_port,
        "user": c.user,
        "host_key": c.host_key,
        "credential_id": CREDENTIAL,
        "root": str(c.home / "storage"),
        **over,
    }


def ctx(workflow_id: str, task_id: str, attempt: int = 1) -> TaskContext:
    ref = participant_pb2.TaskRef(workflow_id=workflow_id, task_id=task_id, attempt=attempt)
    return TaskContext(
        ref=ref,
        participant="p",
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
        grace=timedelta(seconds=1),
    )


async def run(type_name: str, params: dict[str, Any], workflow: str, task: str) -> RunResult:
    return await run_task(
        TASK_TYPES[type_name], ctx(workflow, task), params, timedelta(seconds=120)
    )


async def monitor(params: dict[str, Any], workflow: str) -> RunResult:
    for _ in range(240):
        result = await run("airavata.monitor_job", params, workflow, "monitor")
        if result.outcome != Outcome.TASK_OUTCOME_RESCHEDULE:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError("job did not finish")


def put_input(c: LoopbackCluster, name: str, text: str) -> str:
    path = c.home / "storage" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("batch_system", ["SLURM", "FORK"])
async def test_a_job_runs_from_staged_inputs_to_archived_outputs(
    cluster: LoopbackCluster, batch_system: str
) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    digest = put_input(cluster, f"{wf}/in/words.txt", "alpha beta\ngamma\n")
    target = compute(cluster, batch_system=batch_system)

    setup = await run("airavata.env_setup", {"compute": target}, wf, "env")
    assert setup.outcome == Outcome.TASK_OUTCOME_COMPLETED, setup.message
    assert setup.outputs is not None
    remote_dir = setup.outputs["remote_dir"]
    assert remote_dir == str(cluster.home / "scratch" / wf)

    files = [{"source": f"{wf}/in/words.txt", "target": "words.txt", "sha256": digest}]
    staged = await run(
        "airavata.stage_in",
        {"compute": target, "storage": storage(cluster), "remote_dir": remote_dir, "files": files},
        wf,
        "stage-in",
    )
    assert staged.outcome == Outcome.TASK_OUTCOME_COMPLETED, staged.message
    assert (Path(remote_dir) / "words.txt").read_text() == "alpha beta\ngamma\n"

    submit = {
        "compute": target,
        "remote_dir": remote_dir,
        "application": {
            "executable": "/bin/sh",
            "arguments": ["-c", 'wc -w < words.txt > count.txt; echo "$GREETING" >> count.txt'],
            "environment": {"GREETING": "hi there"},
        },
        "resources": {"nodes": 1, "cores": 1, "memory_mb": 100, "walltime_minutes": 5},
    }
    first = await run("airavata.submit_job", submit, wf, "submit")
    assert first.outcome == Outcome.TASK_OUTCOME_COMPLETED, first.message
    assert first.outputs is not None and first.outputs["newly_submitted"] is True
    job_id = first.outputs["job_id"]
    # the same task run again (a re-placed attempt) finds the job instead of submitting twice
    again = await run("airavata.submit_job", submit, wf, "submit")
    assert again.outputs == {**first.outputs, "newly_submitted": False}

    done = await monitor({"compute": target, "remote_dir": remote_dir, "job_id": job_id}, wf)
    assert done.outcome == Outcome.TASK_OUTCOME_COMPLETED, done.message
    assert done.outputs == {"job_id": job_id, "state": "COMPLETED", "exit_code": 0}

    out = await run(
        "airavata.stage_out",
        {
            "compute": target,
            "storage": storage(cluster),
            "remote_dir": remote_dir,
            "files": [{"source": "count.txt", "target": f"{wf}/out/count.txt"}],
        },
        wf,
        "stage-out",
    )
    assert out.outcome == Outcome.TASK_OUTCOME_COMPLETED, out.message
    assert (cluster.home / "storage" / wf / "out" / "count.txt").read_text() == "3\nhi there\n"

    archived = await run(
        "airavata.archive",
        {
            "compute": target,
            "storage": storage(cluster),
            "remote_dir": remote_dir,
            "target": f"{wf}/archive.tar.gz",
        },
        wf,
        "archive",
    )
    assert archived.outcome == Outcome.TASK_OUTCOME_COMPLETED, archived.message
    blob = (cluster.home / "storage" / wf / "archive.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        names = set(tar.getnames())
    assert {"./words.txt", "./count.txt", "./job.out"} <= names
    assert not any(n.startswith("./.helicase") for n in names)


async def test_an_unexpected_host_key_is_fatal(cluster: LoopbackCluster) -> None:
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    result = await run(
        "airavata.env_setup", {"compute": compute(cluster, host_key=other)}, "w", "e"
    )
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "host key" in result.message


async def test_a_key_the_server_refuses_is_fatal(cluster: LoopbackCluster) -> None:
    import asyncssh

    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    use_credential_store(StaticCredentials({CREDENTIAL: stranger}))
    result = await run("airavata.env_setup", {"compute": compute(cluster)}, "w", "e")
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "authentication" in result.message


async def test_a_refused_connection_is_retried(cluster: LoopbackCluster) -> None:
    from helicase.devstack import free_port

    result = await run(
        "airavata.env_setup", {"compute": compute(cluster, port=free_port())}, "w", "e"
    )
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert "refused" in result.message


async def test_a_missing_input_is_fatal(cluster: LoopbackCluster) -> None:
    result = await run(
        "airavata.stage_in",
        {
            "compute": compute(cluster),
            "storage": storage(cluster),
            "remote_dir": str(cluster.home / "scratch" / "missing"),
            "files": [{"source": "no/such/file.txt", "target": "file.txt"}],
        },
        "w",
        "s",
    )
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "does not exist" in result.message


async def test_a_missing_output_is_fatal(cluster: LoopbackCluster) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    setup = await run("airavata.env_setup", {"compute": compute(cluster)}, wf, "env")
    assert setup.outputs is not None
    result = await run(
        "airavata.stage_out",
        {
            "compute": compute(cluster),
            "storage": storage(cluster),
            "remote_dir": setup.outputs["remote_dir"],
            "files": [{"source": "never-written.txt", "target": f"{wf}/x.txt"}],
        },
        wf,
        "s",
    )
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "output file" in result.message and "does not exist" in result.message


async def test_a_job_sbatch_refuses_is_fatal(cluster: LoopbackCluster) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    setup = await run("airavata.env_setup", {"compute": compute(cluster)}, wf, "env")
    assert setup.outputs is not None
    submit = {
        "compute": compute(cluster),
        "remote_dir": setup.outputs["remote_dir"],
        "application": {"executable": "true"},
        "resources": {"queue": "no-such-partition"},
    }
    result = await run("airavata.submit_job", submit, wf, "submit")
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "partition" in result.message.lower()


async def test_a_failing_job_fails_the_monitor_for_good_with_its_exit_code(
    cluster: LoopbackCluster,
) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    setup = await run("airavata.env_setup", {"compute": compute(cluster)}, wf, "env")
    assert setup.outputs is not None
    remote_dir = setup.outputs["remote_dir"]
    app = {"executable": "/bin/sh", "arguments": ["-c", "exit 7"]}
    submitted = await run(
        "airavata.submit_job",
        {"compute": compute(cluster), "remote_dir": remote_dir, "application": app},
        wf,
        "submit",
    )
    assert submitted.outputs is not None
    job = submitted.outputs["job_id"]
    done = await monitor({"compute": compute(cluster), "remote_dir": remote_dir, "job_id": job}, wf)
    assert done.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert done.message == f"job {job} ended FAILED, exit code 7"


async def cancel_during_look(params: dict[str, Any], wf: str, *, requested: bool) -> RunResult:
    """Cancels a monitor run while it looks at the job (the session sets `cancel_requested`
    before cancelling for a user's cancel, not when the participant stops)."""
    for _ in range(5):  # a look that ended before the cancel is tried again
        context = ctx(wf, "m")
        running = asyncio.create_task(
            run_task(TASK_TYPES["airavata.monitor_job"], context, params, None)
        )
        await asyncio.sleep(0.01)  # inside the SSH connect
        if requested:
            context.cancel_requested.set()
        running.cancel()
        result = await running
        if result.outcome != Outcome.TASK_OUTCOME_RESCHEDULE:
            break
    return result


async def test_cancelling_the_monitor_cancels_the_job(cluster: LoopbackCluster) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    setup = await run("airavata.env_setup", {"compute": compute(cluster)}, wf, "env")
    assert setup.outputs is not None
    remote_dir = setup.outputs["remote_dir"]
    app = {"executable": "sleep", "arguments": ["300"]}
    submitted = await run(
        "airavata.submit_job",
        {"compute": compute(cluster), "remote_dir": remote_dir, "application": app},
        wf,
        "submit",
    )
    assert submitted.outputs is not None
    job = submitted.outputs["job_id"]
    params = {"compute": compute(cluster), "remote_dir": remote_dir, "job_id": job}
    assert (
        await run("airavata.monitor_job", params, wf, "m")
    ).outcome == Outcome.TASK_OUTCOME_RESCHEDULE
    # a participant stopping mid-look cancels the run without a cancel request: the job stays
    result = await cancel_during_look(params, wf, requested=False)
    assert result.outcome == Outcome.TASK_OUTCOME_CANCELED
    looked = cluster.ssh(f"scontrol show job -o {job}").stdout
    assert "JobState=PENDING" in looked or "JobState=RUNNING" in looked
    result = await cancel_during_look(params, wf, requested=True)
    assert result.outcome == Outcome.TASK_OUTCOME_CANCELED
    for _ in range(60):
        state = cluster.ssh(f"scontrol show job -o {job}").stdout
        if "JobState=CANCELLED" in state:
            break
        await asyncio.sleep(0.5)
    assert "JobState=CANCELLED" in state


async def test_concurrent_and_later_attempts_of_one_submit_task_make_one_job(
    cluster: LoopbackCluster,
) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    setup = await run("airavata.env_setup", {"compute": compute(cluster)}, wf, "env")
    assert setup.outputs is not None
    submit = {
        "compute": compute(cluster),
        "remote_dir": setup.outputs["remote_dir"],
        "application": {"executable": "sleep", "arguments": ["1"]},
    }
    # a task re-placed while its first run still goes, and then a retry (attempt 2)
    racing = await asyncio.gather(
        *(run("airavata.submit_job", submit, wf, "submit") for _ in range(3))
    )
    retry = await run_task(
        TASK_TYPES["airavata.submit_job"], ctx(wf, "submit", attempt=2), submit, None
    )
    results = [*racing, retry]
    assert all(r.outcome == Outcome.TASK_OUTCOME_COMPLETED for r in results), results
    assert len({r.outputs["job_id"] for r in results if r.outputs}) == 1
    assert sum(bool(r.outputs and r.outputs["newly_submitted"]) for r in results) == 1
    listed = cluster.ssh(f"squeue -h -t all -n {job_key(wf, 'submit')} -o %i")
    assert len(listed.stdout.split()) == 1


@pytest.mark.parametrize("batch_system", ["SLURM", "FORK"])
async def test_cancel_job_stops_the_job_and_any_submission_still_to_come(
    cluster: LoopbackCluster, batch_system: str
) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    target = compute(cluster, batch_system=batch_system)
    remote_dir = str(cluster.home / "scratch" / wf)
    submit = {
        "compute": target,
        "remote_dir": remote_dir,
        "application": {"executable": "sleep", "arguments": ["300"]},
        "job_name": f"job-{wf}",
    }
    cancel = {"compute": target, "remote_dir": remote_dir, "job_name": f"job-{wf}"}
    # a job submitted, then cancelled by name
    await run("airavata.env_setup", {"compute": target}, wf, "env")
    first = await run("airavata.submit_job", submit, wf, "submit")
    assert first.outcome == Outcome.TASK_OUTCOME_COMPLETED, first.message
    assert first.outputs is not None
    cancelled = await run("airavata.cancel_job", cancel, wf, "cancel")
    assert cancelled.outcome == Outcome.TASK_OUTCOME_COMPLETED, cancelled.message
    monitor_params = {
        "compute": target,
        "remote_dir": remote_dir,
        "job_id": first.outputs["job_id"],
    }
    ended = await monitor(monitor_params, wf)
    assert ended.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert ("CANCELLED" if batch_system == "SLURM" else "LOST") in ended.message
    # a cancel that comes first (the submit still on its way) stops that submission
    wf2 = f"wf-{uuid.uuid4().hex[:8]}"
    early = {**cancel, "remote_dir": str(cluster.home / "scratch" / wf2), "job_name": f"job-{wf2}"}
    assert (
        await run("airavata.cancel_job", early, wf2, "cancel")
    ).outcome == Outcome.TASK_OUTCOME_COMPLETED
    late = await run(
        "airavata.submit_job",
        {**submit, "remote_dir": early["remote_dir"], "job_name": f"job-{wf2}"},
        wf2,
        "submit",
    )
    assert late.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert "cancelled before it was submitted" in late.message

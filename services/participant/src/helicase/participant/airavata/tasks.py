"""The Airavata task types: a gateway's experiment as six tasks on a cluster reached over SSH.

    airavata.env_setup → airavata.stage_in → airavata.submit_job → airavata.monitor_job
      → airavata.stage_out → airavata.archive

Each is idempotent (delivery is at least once): directories are made with -p, files are written
under temporary names and renamed, a task submits its batch job at most once, and a monitor only
reads. Later tasks find the working directory and the job through the earlier tasks' outputs
(`${tasks.<id>.outputs.remote_dir}`, `${tasks.<id>.outputs.job_id}`). Each task type's outputs
are declared once, in helicase.common.task_outputs, which the api's experiments read with.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from datetime import timedelta
from typing import Any

from helicase.common.errors import NonRetryableError
from helicase.common.task_outputs import (
    AIRAVATA_OUTPUTS,
    ArchiveOutputs,
    CancelJobOutputs,
    EnvSetupOutputs,
    MonitorJobOutputs,
    StagedFile,
    StageInOutputs,
    StageOutOutputs,
    StoredFile,
    SubmitJobOutputs,
)
from helicase.participant.airavata import _batch, _transfer
from helicase.participant.airavata._models import (
    ArchiveParams,
    CancelJobParams,
    EnvSetupParams,
    MonitorJobParams,
    StageInParams,
    StageOutParams,
    StorageTarget,
    SubmitJobParams,
)
from helicase.participant.airavata._script import STATE_DIR, job_key
from helicase.participant.airavata._ssh import connect, q, run_checked
from helicase.participant.sdk import Reschedule, TaskContext, task_type

TYPES = tuple(AIRAVATA_OUTPUTS)


def _location(storage: StorageTarget, relative: str) -> str:
    return posixpath.join(storage.root, relative)


def _uri(storage: StorageTarget, path: str) -> str:
    return f"sftp://{storage.user}@{storage.host}:{storage.port}{path}"


@task_type("airavata.env_setup", params=EnvSetupParams)
async def env_setup(ctx: TaskContext, params: EnvSetupParams) -> dict[str, Any]:
    """Makes the experiment's working directory on the cluster (scratch_root/dir_name)."""
    remote_dir = posixpath.join(params.compute.scratch_root, params.dir_name or ctx.workflow_id)
    async with connect(params.compute) as conn:
        await run_checked(conn, f"mkdir -p {q(remote_dir)}/{STATE_DIR}", "mkdir")
    return EnvSetupOutputs(remote_dir=remote_dir).to_dict()


@task_type("airavata.stage_in", params=StageInParams)
async def stage_in(ctx: TaskContext, params: StageInParams) -> dict[str, Any]:
    """Copies input files from the storage resource into the working directory over SFTP;
    SHA-256 checked on both ends (and against `sha256` when given)."""
    copied = []
    async with (
        connect(params.storage) as store,
        connect(params.compute) as cluster,
        store.start_sftp_client() as src,
        cluster.start_sftp_client() as dst,
    ):
        for i, item in enumerate(params.files):
            source = _location(params.storage, item.source)
            target = posixpath.join(params.remote_dir, item.target)
            sent, size = await _transfer.copy(src, source, dst, target)
            _transfer.check_expected(item.source, item.sha256, sent)
            _transfer.check_copy(
                item.target, sent, await _transfer.sha256_via_shell(cluster, target)
            )
            copied.append(StagedFile(path=target, sha256=sent, bytes=size))
            ctx.progress((i + 1) / len(params.files), item.target)
    return StageInOutputs(remote_dir=params.remote_dir, files=copied).to_dict()


@task_type("airavata.submit_job", params=SubmitJobParams)
async def submit_job(ctx: TaskContext, params: SubmitJobParams) -> dict[str, Any]:
    """Renders the batch script (SLURM: nodes, cores, memory, walltime, partition, environment;
    or FORK) and submits it over SSH — once per task: a re-run finds the job already submitted."""
    key = params.job_name or job_key(ctx.workflow_id, ctx.task_id)
    async with connect(params.compute) as conn:
        submitted, job_id = await _batch.submit(conn, params, key)
        ctx.set_output(SubmitJobOutputs.key("job_id"), job_id)
        ctx.log.info(
            "job submitted" if submitted else "job already submitted", extra={"job_id": job_id}
        )
    return SubmitJobOutputs(
        job_id=job_id,
        job_name=key,
        batch_system=params.compute.batch_system,
        newly_submitted=submitted,
        remote_dir=params.remote_dir,
    ).to_dict()


@task_type("airavata.monitor_job", params=MonitorJobParams)
async def monitor_job(ctx: TaskContext, params: MonitorJobParams) -> dict[str, Any] | Reschedule:
    """Looks at the job once: while it is pending or running the task is rescheduled (no slot is
    held); COMPLETED with exit code 0 completes it; any other end fails it for good with the
    job's exit code. A cancel of this task (the user's) cancels the job; a participant that
    stops mid-look leaves it alone (the look is re-placed)."""
    try:
        async with connect(params.compute) as conn:
            status = await _batch.status(conn, params.compute, params.remote_dir, params.job_id)
    except asyncio.CancelledError:
        if ctx.cancel_requested.is_set():
            await _cancel_job(ctx, params)
        raise
    ctx.log.info("job status", extra={"job_id": params.job_id, "job_state": status.state})
    if status.phase == "running":
        return Reschedule(timedelta(seconds=params.poll_seconds))
    if status.phase == "completed":
        # A COMPLETED job's exit code is 0 whenever the batch system reports none.
        done = MonitorJobOutputs(
            job_id=params.job_id, state=status.state, exit_code=status.exit_code or 0
        )
        return done.to_dict()
    code = "unknown" if status.exit_code is None else str(status.exit_code)
    raise NonRetryableError(f"job {params.job_id} ended {status.state}, exit code {code}")


async def _cancel_job(ctx: TaskContext, params: MonitorJobParams) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(ctx.grace.total_seconds() + 10):
            async with connect(params.compute) as conn:
                await _batch.cancel(conn, params.compute, params.remote_dir, params.job_id)
                ctx.log.info("job cancelled", extra={"job_id": params.job_id})


@task_type("airavata.stage_out", params=StageOutParams)
async def stage_out(ctx: TaskContext, params: StageOutParams) -> dict[str, Any]:
    """Copies output files from the working directory to the storage resource over SFTP;
    SHA-256 taken on the cluster before and read back from storage after."""
    copied = []
    async with (
        connect(params.compute) as cluster,
        connect(params.storage) as store,
        cluster.start_sftp_client() as src,
        store.start_sftp_client() as dst,
    ):
        for item in params.files:
            source = posixpath.join(params.remote_dir, item.source)
            target = _location(params.storage, item.target)
            await _transfer.require(src, source, "output file")
            before = await _transfer.sha256_via_shell(cluster, source)
            sent, size = await _transfer.copy(src, source, dst, target)
            _transfer.check_copy(item.source, before, sent)
            _transfer.check_copy(item.target, sent, await _transfer.sha256_via_sftp(dst, target))
            _transfer.check_expected(item.source, item.sha256, sent)
            copied.append(
                StoredFile(path=target, uri=_uri(params.storage, target), sha256=sent, bytes=size)
            )
    return StageOutOutputs(files=copied, locations=[f.uri for f in copied]).to_dict()


@task_type("airavata.archive", params=ArchiveParams)
async def archive(ctx: TaskContext, params: ArchiveParams) -> dict[str, Any]:
    """Tars (gzip) the working directory on the cluster and copies the archive to storage."""
    key = job_key(ctx.workflow_id, ctx.task_id)
    staging = posixpath.join(params.compute.scratch_root, f".{key}.tar.gz")
    target = _location(params.storage, params.target)
    async with connect(params.compute) as cluster, connect(params.storage) as store:
        await run_checked(
            cluster,
            f"tar czf {q(staging)} --exclude=./{STATE_DIR} -C {q(params.remote_dir)} .",
            "tar",
        )
        try:
            before = await _transfer.sha256_via_shell(cluster, staging)
            async with cluster.start_sftp_client() as src, store.start_sftp_client() as dst:
                sent, size = await _transfer.copy(src, staging, dst, target)
                _transfer.check_copy(params.target, before, sent)
                _transfer.check_copy(
                    params.target, sent, await _transfer.sha256_via_sftp(dst, target)
                )
        finally:
            with contextlib.suppress(Exception):
                await run_checked(cluster, f"rm -f {q(staging)}", "rm")
    return ArchiveOutputs(
        archive=target, uri=_uri(params.storage, target), sha256=sent, bytes=size
    ).to_dict()


@task_type("airavata.cancel_job", params=CancelJobParams)
async def cancel_job(ctx: TaskContext, params: CancelJobParams) -> dict[str, Any]:
    """Cancels the batch job a submit task made, found by its job name (scancel --name, or the
    FORK job's process group); run by CancelExperiment's cleanup workflow. Idempotent."""
    async with connect(params.compute) as conn:
        await _batch.cancel_by_name(conn, params.compute, params.remote_dir, params.job_name)
    return CancelJobOutputs(job_name=params.job_name, cancelled=True).to_dict()

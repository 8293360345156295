"""The batch systems over SSH: SLURM (sbatch, scontrol, scancel) and FORK (a detached process on
the login node, no scheduler). Submission happens once per task whatever the number of runs."""

from __future__ import annotations

import uuid

import asyncssh

from helicase.common.errors import NonRetryableError
from helicase.participant.airavata import _script
from helicase.participant.airavata._models import ComputeTarget, SubmitJobParams
from helicase.participant.airavata._script import STATE_DIR, JobStatus
from helicase.participant.airavata._ssh import TransientError, q, run, tail


async def _upload(conn: asyncssh.SSHClientConnection, path: str, text: str) -> None:
    """Writes `path` under a temporary name and renames it into place: a FORK job's bash may be
    reading the old file (same content) while a re-run rewrites it."""
    partial = f"{path}.part-{uuid.uuid4().hex[:8]}"  # concurrent runs of one task each write
    try:
        async with conn.start_sftp_client() as sftp:
            async with sftp.open(partial, "w") as out:
                await out.write(text)
            await sftp.posix_rename(partial, path)
    except asyncssh.SFTPNoSuchFile:
        raise NonRetryableError(f"working directory of {path} does not exist") from None
    except (asyncssh.Error, OSError) as exc:
        raise TransientError(f"writing {path}: {exc}") from exc


async def submit(
    conn: asyncssh.SSHClientConnection, params: SubmitJobParams, key: str
) -> tuple[bool, str]:
    """Submits the job unless the task already did; returns (newly submitted?, job id)."""
    compute, wd = params.compute, params.remote_dir
    if compute.batch_system == "SLURM":
        script = _script.slurm_script(
            params.application,
            params.resources,
            remote_dir=wd,
            job_name=key,
            queue=params.resources.queue or compute.default_queue,
        )
        command = _script.slurm_submit_command(wd, key, f"{STATE_DIR}/{key}.sbatch")
        name = f"{STATE_DIR}/{key}.sbatch"
    else:
        script = _script.fork_script(params.application, remote_dir=wd, tag=f"fork-{key}")
        command = _script.fork_submit_command(wd, key, f"{STATE_DIR}/{key}.sh")
        name = f"{STATE_DIR}/{key}.sh"
    await _upload(conn, f"{wd}/{name}", script)
    done = await run(conn, command)
    if done.exit_status == _script.CANCELLED_EXIT:
        raise NonRetryableError("the job was cancelled before it was submitted")
    if done.exit_status == 3:  # sbatch refused the job
        message = f"sbatch refused the job: {tail(done.stderr)}"
        if _script.submit_error_is_transient(done.stderr):
            raise TransientError(message)
        raise NonRetryableError(message)
    if done.exit_status != 0:
        raise TransientError(f"submission failed (exit {done.exit_status}): {tail(done.stderr)}")
    try:
        return _script.parse_submit_output(done.stdout)
    except ValueError as exc:
        raise TransientError(str(exc)) from None


async def _exit_file(conn: asyncssh.SSHClientConnection, wd: str, job_id: str) -> int | None:
    done = await run(conn, f"cat {q(wd)}/{STATE_DIR}/job-{q(job_id)}.exit 2>/dev/null")
    return _script.parse_exit_file(done.stdout) if done.exit_status == 0 else None


async def status(
    conn: asyncssh.SSHClientConnection, compute: ComputeTarget, wd: str, job_id: str
) -> JobStatus:
    """The job's state and, once it ended, its exit code."""
    if compute.batch_system == "SLURM":
        done = await run(conn, f"scontrol show job -o {q(job_id)}")
        known = _script.parse_scontrol(done.stdout) if done.exit_status == 0 else None
        if known is not None:
            return known
        if done.exit_status != 0 and "Invalid job id" not in done.stderr:
            raise TransientError(f"scontrol failed: {tail(done.stderr)}")
        # Past SLURM's MinJobAge: the exit code the job script recorded tells the end.
        code = await _exit_file(conn, wd, job_id)
        if code is None:
            return JobStatus("LOST")
        return JobStatus("COMPLETED" if code == 0 else "FAILED", code)
    code = await _exit_file(conn, wd, job_id)
    if code is not None:
        return JobStatus("COMPLETED" if code == 0 else "FAILED", code)
    pidfile = f"{q(wd)}/{STATE_DIR}/job-{q(job_id)}.pid"
    alive = await run(conn, f"kill -0 $(cat {pidfile}) 2>/dev/null")
    if alive.exit_status == 0:
        return JobStatus("RUNNING")
    # The process may have ended between the two looks: read the exit code once more.
    code = await _exit_file(conn, wd, job_id)
    if code is not None:
        return JobStatus("COMPLETED" if code == 0 else "FAILED", code)
    return JobStatus("LOST")


async def cancel(
    conn: asyncssh.SSHClientConnection, compute: ComputeTarget, wd: str, job_id: str
) -> None:
    """scancel (SLURM) or SIGTERM to the job's process group (FORK)."""
    if compute.batch_system == "SLURM":
        await run(conn, f"scancel {q(job_id)}", limit=30)
    else:
        pidfile = f"{q(wd)}/{STATE_DIR}/job-{q(job_id)}.pid"
        await run(conn, f"kill -TERM -$(cat {pidfile}) 2>/dev/null", limit=30)


async def cancel_by_name(
    conn: asyncssh.SSHClientConnection, compute: ComputeTarget, wd: str, job_name: str
) -> None:
    """Cancels the job a submit task named `job_name` made, and stops that task from submitting
    one later (SLURM: scancel --name; FORK: the process group in its pid file). Nothing to
    cancel is not an error."""
    command = _script.cancel_command(wd, job_name, compute.batch_system)
    done = await run(conn, command, limit=90)
    if done.exit_status != 0:
        raise TransientError(f"cancel failed (exit {done.exit_status}): {tail(done.stderr)}")

"""Pure batch-system logic: batch scripts from an application and a resource request, the
remote command that submits exactly once, and the meaning of the scheduler's answers."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from helicase.participant.airavata._models import Application, ResourceRequest

STATE_DIR = ".helicase"
"""Bookkeeping inside the working directory: scripts, job-id markers, exit codes."""

RUNNING_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)
TRANSIENT_SUBMIT_ERRORS = re.compile(
    r"Socket timed out|Unable to contact slurm controller|temporarily unavailable|"
    r"Slurm temporarily unable|Transport endpoint|Connection refused|Zero Bytes were transmitted",
    re.IGNORECASE,
)


def job_key(workflow_id: str, task_id: str) -> str:
    """A short stable key of one task of one workflow (its job name and marker files)."""
    return "hc-" + hashlib.sha256(f"{workflow_id}/{task_id}".encode()).hexdigest()[:16]


def _command_line(app: Application) -> str:
    return " ".join(shlex.quote(w) for w in [app.executable, *app.arguments])


def _body(app: Application, remote_dir: str, tag: str) -> list[str]:
    """Runs the application in `remote_dir` and records its exit code in
    .helicase/job-<tag>.exit, which outlives the scheduler's memory of the job."""
    exports = [f"export {name}={shlex.quote(value)}" for name, value in app.environment.items()]
    return [
        f"cd {shlex.quote(remote_dir)} || exit 1",
        *exports,
        _command_line(app),
        "rc=$?",
        f'echo "$rc" > {STATE_DIR}/job-{tag}.exit',
        'exit "$rc"',
        "",
    ]


def slurm_script(
    app: Application, resources: ResourceRequest, *, remote_dir: str, job_name: str, queue: str
) -> str:
    """A SLURM batch script (stdout/stderr to job.out/job.err in the working directory)."""
    d = shlex.quote(remote_dir)
    hours, minutes = divmod(resources.walltime_minutes, 60)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --chdir={d}",
        f"#SBATCH --output={d}/job.out",
        f"#SBATCH --error={d}/job.err",
        f"#SBATCH --nodes={resources.nodes}",
        f"#SBATCH --ntasks={resources.cores}",
        f"#SBATCH --time={hours:d}:{minutes:02d}:00",
    ]
    if resources.memory_mb:
        lines.append(f"#SBATCH --mem={resources.memory_mb}M")
    if queue:
        lines.append(f"#SBATCH --partition={queue}")
    return "\n".join(lines + _body(app, remote_dir, "${SLURM_JOB_ID}"))


def fork_script(app: Application, *, remote_dir: str, tag: str) -> str:
    """A script the FORK batch system runs detached (no scheduler)."""
    return "\n".join(["#!/bin/bash", *_body(app, remote_dir, tag)])


CANCELLED_EXIT = 4
"""The submit command's exit status when the task's job was cancelled before it existed."""


def _locked(remote_dir: str, key: str, lines: list[str]) -> str:
    """`lines` run by /bin/sh in the working directory under the task's flock: submission and
    cancellation of one task's job are serialized, so neither can slip between the other's
    look and act. `-o`: a FORK job started in there must not inherit (and keep) the lock."""
    inner = shlex.quote("\n".join(lines))
    wd = shlex.quote(remote_dir)
    lock = f"{STATE_DIR}/{key}.lock"
    return f"mkdir -p {wd}/{STATE_DIR} && cd {wd} && flock -o -w 60 {lock} /bin/sh -c {inner}"


def _refuse_if_cancelled(key: str) -> str:
    return f"if [ -e {STATE_DIR}/{key}.cancelled ]; then exit {CANCELLED_EXIT}; fi"


def slurm_submit_command(remote_dir: str, key: str, script: str) -> str:
    """Submits `script` unless this task already has a job: the job-id marker in the working
    directory, else a job with the task's name that SLURM still knows, is reused; a job cancelled
    before it existed is not submitted (exit 4). Prints "existing <id>" or "submitted <id>"."""
    marker = f"{STATE_DIR}/{key}.jobid"
    return _locked(
        remote_dir,
        key,
        [
            f"if [ -s {marker} ]; then echo existing $(cat {marker}); exit 0; fi",
            f"found=$(squeue -h -t all -n {key} -o %i 2>/dev/null | head -n 1)",
            f'if [ -n "$found" ]; then echo "$found" > {marker}; '
            'echo existing "$found"; exit 0; fi',
            _refuse_if_cancelled(key),
            f"out=$(sbatch --parsable {script}) || exit 3",
            'id="${out%%;*}"',
            f'echo "$id" > {marker}.tmp && mv {marker}.tmp {marker}',
            'echo submitted "$id"',
        ],
    )


def fork_submit_command(remote_dir: str, key: str, script: str) -> str:
    """Starts `script` detached in its own session unless this task already started it (or its
    job was cancelled first: exit 4); the job id is "fork-<key>", the pid goes to
    .helicase/job-fork-<key>.pid."""
    tag = f"fork-{key}"
    pidfile = f"{STATE_DIR}/job-{tag}.pid"
    return _locked(
        remote_dir,
        key,
        [
            f"if [ -s {pidfile} ]; then echo existing {tag}; exit 0; fi",
            _refuse_if_cancelled(key),
            f"nohup setsid /bin/bash {script} > job.out 2> job.err < /dev/null &",
            f"echo $! > {pidfile}",
            f"echo submitted {tag}",
        ],
    )


def cancel_command(remote_dir: str, key: str, batch_system: str) -> str:
    """Cancels the task's job and leaves a mark that stops a submission still to come: under the
    task's flock, so a submission in flight finishes first and its job is then found."""
    if batch_system == "SLURM":
        act = f"scancel --name={key}"
    else:
        pidfile = f"{STATE_DIR}/job-fork-{key}.pid"
        act = f"if [ -s {pidfile} ]; then kill -TERM -$(cat {pidfile}) 2>/dev/null; fi"
    return _locked(remote_dir, key, [f"touch {STATE_DIR}/{key}.cancelled", act, "echo cancelled"])


def parse_submit_output(stdout: str) -> tuple[bool, str]:
    """("submitted"|"existing" <id>) → (newly submitted?, job id)."""
    words = stdout.split()
    if len(words) < 2 or words[0] not in ("submitted", "existing"):
        raise ValueError(f"unexpected submit output: {stdout.strip()!r}")
    return words[0] == "submitted", words[1]


def submit_error_is_transient(stderr: str) -> bool:
    """Whether sbatch failed for a reason a retry may fix (else the script or the request is
    invalid: an unknown partition, more resources than exist, a malformed option)."""
    return bool(TRANSIENT_SUBMIT_ERRORS.search(stderr))


@dataclass(frozen=True)
class JobStatus:
    state: str
    exit_code: int | None = None

    @property
    def phase(self) -> Literal["running", "completed", "failed"]:
        if self.state in RUNNING_STATES:
            return "running"
        if self.state == "COMPLETED" and (self.exit_code or 0) == 0:
            return "completed"
        return "failed"


def parse_scontrol(text: str) -> JobStatus | None:
    """`scontrol show job -o <id>` → status (None when SLURM no longer knows the job)."""
    fields = dict(
        part.split("=", 1) for part in text.split() if "=" in part and not part.startswith("=")
    )
    state = fields.get("JobState")
    if not state:
        return None
    code = fields.get("ExitCode", "")
    exit_code = None
    if re.fullmatch(r"\d+:\d+", code):
        status, sig = (int(x) for x in code.split(":"))
        exit_code = status if sig == 0 else 128 + sig
    return JobStatus(state=state, exit_code=exit_code)


def parse_exit_file(text: str) -> int | None:
    """The recorded exit code, or None if the file is empty or missing."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None

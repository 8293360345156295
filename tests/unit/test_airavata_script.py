"""Pure batch-system logic of the Airavata task library: scripts and the scheduler's answers."""

from __future__ import annotations

from helicase.participant.airavata._models import Application, ResourceRequest
from helicase.participant.airavata._script import (
    JobStatus,
    job_key,
    parse_exit_file,
    parse_scontrol,
    parse_submit_output,
    slurm_script,
    submit_error_is_transient,
)


def test_the_slurm_script_carries_the_resource_request_and_quotes_the_application() -> None:
    app = Application(
        executable="/opt/app/run",
        arguments=["in put.txt", "$HOME"],
        environment={"OMP_NUM_THREADS": "4", "MSG": "it's"},
    )
    resources = ResourceRequest(nodes=2, cores=8, memory_mb=2048, walltime_minutes=90)
    script = slurm_script(app, resources, remote_dir="/scratch/w 1", job_name="hc-x", queue="gpu")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=hc-x" in lines
    assert "#SBATCH --nodes=2" in lines
    assert "#SBATCH --ntasks=8" in lines
    assert "#SBATCH --mem=2048M" in lines
    assert "#SBATCH --time=1:30:00" in lines
    assert "#SBATCH --partition=gpu" in lines
    assert "#SBATCH --chdir='/scratch/w 1'" in lines
    assert "export MSG='it'\"'\"'s'" in lines
    assert "/opt/app/run 'in put.txt' '$HOME'" in lines
    assert 'echo "$rc" > .helicase/job-${SLURM_JOB_ID}.exit' in lines


def test_no_memory_or_partition_lines_when_not_asked() -> None:
    script = slurm_script(
        Application(executable="true"), ResourceRequest(), remote_dir="/s", job_name="j", queue=""
    )
    assert "--mem" not in script and "--partition" not in script


def test_job_keys_are_stable_per_task() -> None:
    assert job_key("w", "submit") == job_key("w", "submit")
    assert job_key("w", "submit") != job_key("w2", "submit")
    assert len(job_key("w", "t")) == 19


def test_submit_output_says_whether_the_job_is_new() -> None:
    assert parse_submit_output("submitted 42\n") == (True, "42")
    assert parse_submit_output("existing 42\n") == (False, "42")


def test_scontrol_states_and_exit_codes() -> None:
    line = "JobId=7 JobName=x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0"
    assert parse_scontrol(line) == JobStatus("FAILED", 3)
    assert parse_scontrol("JobId=7 JobState=CANCELLED ExitCode=0:15") == JobStatus("CANCELLED", 143)
    assert parse_scontrol("JobId=7 JobState=PENDING ExitCode=0:0").phase == "running"  # type: ignore[union-attr]
    assert parse_scontrol("JobId=7 JobState=COMPLETED ExitCode=0:0").phase == "completed"  # type: ignore[union-attr]
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified") is None
    assert JobStatus("TIMEOUT", 0).phase == "failed"


def test_exit_files() -> None:
    assert parse_exit_file("0\n") == 0
    assert parse_exit_file("") is None


def test_sbatch_errors_split_into_transient_and_invalid() -> None:
    assert submit_error_is_transient("sbatch: error: Batch job submission failed: Socket timed out")
    assert not submit_error_is_transient(
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )

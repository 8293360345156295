"""Experiments, pure: expansion into the airavata workflow and the state read back from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from helicase.api.experiments.steps import derive, expand
from helicase.common.states import TS
from helicase.common.task_outputs import EnvSetupOutputs, StageInOutputs, SubmitJobOutputs
from helicase.participant.sdk import REFERENCE_PATTERN
from helicase.v1 import experiment_pb2, resource_pb2, workflow_pb2

ES = experiment_pb2.ExperimentState
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
COMPUTE = resource_pb2.ComputeResource(
    host="hpc", port=0, login_user="gw", batch_system=resource_pb2.BATCH_SYSTEM_FORK,
    scratch_root="/scratch", host_key=KEY,
)  # fmt: skip
STORAGE = resource_pb2.StorageResource(host="st", login_user="gw", root_path="/data", host_key=KEY)


def spec(*, files: bool = True) -> experiment_pb2.Experiment:
    made = experiment_pb2.Experiment(
        application=experiment_pb2.ApplicationSpec(executable="run"), credential_id="c1"
    )
    if files:
        made.inputs.add(storage_path="a/in.txt", name="in.txt")
        made.outputs.add(storage_path="a/out.txt", name="out.txt")
    return made


def test_an_experiment_becomes_a_chain_of_the_six_airavata_tasks() -> None:
    workflow = expand(spec(), "e1", COMPUTE, STORAGE)
    assert [(t.id, t.type, list(t.depends_on)) for t in workflow.tasks] == [
        ("env-setup", "airavata.env_setup", []),
        ("stage-in", "airavata.stage_in", ["env-setup"]),
        ("submit", "airavata.submit_job", ["stage-in"]),
        ("monitor", "airavata.monitor_job", ["submit"]),
        ("stage-out", "airavata.stage_out", ["monitor"]),
        ("archive", "airavata.archive", ["stage-out"]),
    ]
    params = {t.id: json_format.MessageToDict(t.params) for t in workflow.tasks}
    assert params["env-setup"]["compute"]["port"] == 22
    assert params["env-setup"]["compute"]["batch_system"] == "FORK"
    assert params["monitor"]["job_id"] == "${tasks.submit.outputs.job_id}"
    assert params["stage-in"]["files"] == [{"source": "a/in.txt", "target": "in.txt"}]
    assert params["stage-out"]["files"] == [{"source": "out.txt", "target": "a/out.txt"}]
    assert "private_key" not in str(params)
    assert REFERENCE_PATTERN


def test_no_files_no_staging_step() -> None:
    workflow = expand(spec(files=False), "e1", COMPUTE, STORAGE)
    assert [t.id for t in workflow.tasks] == ["env-setup", "submit", "monitor", "archive"]
    assert list(workflow.tasks[1].depends_on) == ["env-setup"]


def _with_states(
    states: Mapping[str, workflow_pb2.TaskState.ValueType],
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> workflow_pb2.Workflow:
    workflow = expand(spec(), "e1", COMPUTE, STORAGE)
    workflow.id = "w1"
    workflow.state = workflow_pb2.WORKFLOW_STATE_RUNNING
    for task in workflow.tasks:
        task.state = states.get(task.id, TS.TASK_STATE_PENDING)
        if outputs and task.id in outputs:
            task.outputs.update(outputs[task.id])
    return workflow


def test_the_state_follows_the_step_at_work() -> None:
    assert derive(spec(), _with_states({})).state == ES.EXPERIMENT_STATE_CREATED
    running = {"env-setup": TS.TASK_STATE_COMPLETED, "stage-in": TS.TASK_STATE_COMPLETED,
               "submit": TS.TASK_STATE_COMPLETED, "monitor": TS.TASK_STATE_READY}  # fmt: skip
    outputs = {
        "env-setup": EnvSetupOutputs(remote_dir="/scratch/e1").to_dict(),
        "stage-in": StageInOutputs(remote_dir="/scratch/e1", files=[]).to_dict(),
        "submit": SubmitJobOutputs(
            job_id="42", job_name="exp-e1", batch_system="FORK", newly_submitted=True,
            remote_dir="/scratch/e1",
        ).to_dict(),
    }  # fmt: skip
    view = derive(spec(), _with_states(running, outputs))
    assert view.state == ES.EXPERIMENT_STATE_JOB_ACTIVE
    assert view.job_id == "42"
    assert view.remote_dir == "/scratch/e1"
    submitting = {"env-setup": TS.TASK_STATE_COMPLETED, "submit": TS.TASK_STATE_RUNNING}
    early = {"env-setup": outputs["env-setup"], "submit": {"job_id": "42"}}
    assert derive(spec(), _with_states(submitting, early)).job_id == "42"  # reported, not done
    between = {"env-setup": TS.TASK_STATE_COMPLETED}
    assert derive(spec(), _with_states(between, outputs)).state == ES.EXPERIMENT_STATE_STAGING_IN


def test_every_step_of_an_experiment_retries_a_transient_failure_for_about_a_minute() -> None:
    workflow = expand(spec(), "e1", COMPUTE, STORAGE)
    assert {
        (t.retry.max_attempts, t.retry.initial_backoff.ToSeconds(), t.retry.max_backoff.ToSeconds())
        for t in workflow.tasks
    } == {(6, 2, 30)}


def test_a_monitor_that_completed_without_its_exit_code_fails_the_experiment_naming_it() -> None:
    done = {task_id: TS.TASK_STATE_COMPLETED for task_id in ("env-setup", "stage-in", "submit")}
    done["monitor"] = TS.TASK_STATE_COMPLETED
    outputs: dict[str, dict[str, Any]] = {
        "env-setup": {"remote_dir": "/scratch/e1"},
        "stage-in": {"remote_dir": "/scratch/e1", "files": []},
        "submit": {"job_id": "42", "job_name": "exp-e1", "batch_system": "SLURM",
                   "newly_submitted": True, "remote_dir": "/scratch/e1"},
        "monitor": {"job_id": "42", "state": "COMPLETED"},  # the participant renamed exit_code
    }  # fmt: skip
    view = derive(spec(), _with_states(done, outputs))
    assert view.state == ES.EXPERIMENT_STATE_FAILED
    assert "exit_code" in view.message and "monitor" in view.message

"""Experiments, pure: the expansion into the workflow of airavata.* tasks, and the experiment's
view (state, batch job, output locations) derived from that workflow's tasks."""

from __future__ import annotations

import posixpath
from typing import Any, TypeVar

from google.protobuf import json_format

from helicase.common.states import TS, WS
from helicase.common.task_outputs import (
    ArchiveOutputs,
    CancelJobOutputs,
    EnvSetupOutputs,
    MonitorJobOutputs,
    StageInOutputs,
    StageOutOutputs,
    SubmitJobOutputs,
    TaskOutputError,
    TaskOutputs,
)
from helicase.v1 import experiment_pb2, resource_pb2, workflow_pb2

ES = experiment_pb2.ExperimentState
Out = TypeVar("Out", bound=TaskOutputs)

# The workflow of an experiment, in order: task id → task type.
STEPS = (
    ("env-setup", EnvSetupOutputs.TASK_TYPE),
    ("stage-in", StageInOutputs.TASK_TYPE),
    ("submit", SubmitJobOutputs.TASK_TYPE),
    ("monitor", MonitorJobOutputs.TASK_TYPE),
    ("stage-out", StageOutOutputs.TASK_TYPE),
    ("archive", ArchiveOutputs.TASK_TYPE),
)
STEP_STATE = {
    "env-setup": ES.EXPERIMENT_STATE_SETTING_UP,
    "stage-in": ES.EXPERIMENT_STATE_STAGING_IN,
    "submit": ES.EXPERIMENT_STATE_SUBMITTING,
    "monitor": ES.EXPERIMENT_STATE_JOB_ACTIVE,
    "stage-out": ES.EXPERIMENT_STATE_STAGING_OUT,
    "archive": ES.EXPERIMENT_STATE_ARCHIVING,
}
TRANSFER_TIMEOUT = "1800s"
# Every step reaches the cluster or the storage over SSH, and a server restarting for a few
# seconds must not fail the experiment: a transient failure (refused, dropped, timed out) gets
# 6 attempts 2, 4, 8, 16 and 30 s apart instead of the default 3 within 3 s. Fatal ones
# (authentication, host key, missing file) are never retried.
SSH_MAX_ATTEMPTS = 6
SSH_INITIAL_BACKOFF = "2s"
SSH_MAX_BACKOFF = "30s"
BATCH_NAMES = {resource_pb2.BATCH_SYSTEM_SLURM: "SLURM", resource_pb2.BATCH_SYSTEM_FORK: "FORK"}


def _compute(c: resource_pb2.ComputeResource, credential_id: str) -> dict[str, Any]:
    return {
        "host": c.host, "port": c.port or 22, "user": c.login_user, "host_key": c.host_key,
        "credential_id": credential_id, "batch_system": BATCH_NAMES[c.batch_system],
        "scratch_root": c.scratch_root, "default_queue": c.default_queue,
    }  # fmt: skip


def _storage(s: resource_pb2.StorageResource, credential_id: str) -> dict[str, Any]:
    return {
        "host": s.host, "port": s.port or 22, "user": s.login_user, "host_key": s.host_key,
        "credential_id": credential_id, "root": s.root_path,
    }  # fmt: skip


def _transfers(files: Any, *, inbound: bool) -> list[dict[str, Any]]:
    out = []
    for f in files:
        src, dst = (f.storage_path, f.name) if inbound else (f.name, f.storage_path)
        item = {"source": src, "target": dst}
        if f.sha256:
            item["sha256"] = f.sha256
        out.append(item)
    return out


def job_name(experiment_id: str) -> str:
    """The batch job's name: unique per experiment, so a cleanup can find the job by it."""
    return "exp-" + experiment_id.replace("-", "")


def archive_path(experiment_id: str) -> str:
    return f"experiments/{experiment_id}/archive.tar.gz"


def expand(
    experiment: experiment_pb2.Experiment,
    experiment_id: str,
    compute: resource_pb2.ComputeResource,
    storage: resource_pb2.StorageResource,
) -> workflow_pb2.Workflow:
    """The experiment's workflow: env_setup → stage_in → submit_job → monitor_job → stage_out
    → archive, with the resources resolved into the params (a snapshot) and later tasks reading
    the working directory and job id from earlier tasks' outputs."""
    cred = experiment.credential_id
    target, store = _compute(compute, cred), _storage(storage, cred)
    remote_dir = EnvSetupOutputs.ref("env-setup", "remote_dir")
    r = experiment.resource_request
    resources = {
        "nodes": r.nodes or 1, "cores": r.cores or 1, "memory_mb": r.memory_mb,
        "walltime_minutes": r.walltime_minutes or 10, "queue": r.queue,
    }  # fmt: skip
    app = experiment.application
    params: dict[str, dict[str, Any]] = {
        "env-setup": {"compute": target, "dir_name": f"experiment-{experiment_id}"},
        "stage-in": {"compute": target, "storage": store, "remote_dir": remote_dir,
                     "files": _transfers(experiment.inputs, inbound=True)},
        "submit": {"compute": target, "remote_dir": remote_dir,
                   "application": {"executable": app.executable, "arguments": list(app.arguments),
                                   "environment": dict(app.environment)},
                   "resources": resources, "job_name": job_name(experiment_id)},
        "monitor": {"compute": target, "remote_dir": remote_dir,
                    "job_id": SubmitJobOutputs.ref("submit", "job_id"), "poll_seconds": 2},
        "stage-out": {"compute": target, "storage": store, "remote_dir": remote_dir,
                      "files": _transfers(experiment.outputs, inbound=False)},
        "archive": {"compute": target, "storage": store, "remote_dir": remote_dir,
                    "target": archive_path(experiment_id)},
    }  # fmt: skip
    tasks = []
    previous: str | None = None
    for task_id, type_name in STEPS:
        if task_id in ("stage-in", "stage-out") and not params[task_id]["files"]:
            continue  # nothing to move: the step is left out
        task = workflow_pb2.Task(
            id=task_id,
            type=type_name,
            instance_group=experiment.instance_group or "default",
            depends_on=[previous] if previous else [],
        )
        task.params.update(params[task_id])
        if task_id in ("stage-in", "stage-out", "archive"):
            task.timeout.FromJsonString(TRANSFER_TIMEOUT)
        task.retry.max_attempts = SSH_MAX_ATTEMPTS
        task.retry.initial_backoff.FromJsonString(SSH_INITIAL_BACKOFF)
        task.retry.max_backoff.FromJsonString(SSH_MAX_BACKOFF)
        tasks.append(task)
        previous = task_id
    return workflow_pb2.Workflow(
        display_name=experiment.display_name or f"experiment {experiment_id}",
        labels={"helicase.experiment": experiment_id[:63]},
        tasks=tasks,
    )


def _outputs(task: workflow_pb2.Task) -> dict[str, Any] | None:
    return json_format.MessageToDict(task.outputs) if task.HasField("outputs") else None


def _completed(tasks: dict[str, workflow_pb2.Task], task_id: str, outputs: type[Out]) -> Out | None:
    """The typed outputs of step `task_id` once it has completed (None before, or without it)."""
    task = tasks.get(task_id)
    if task is None or task.state != TS.TASK_STATE_COMPLETED:
        return None
    return outputs.parse(_outputs(task), task_id=task_id)


def _read_outputs(view: experiment_pb2.Experiment, tasks: dict[str, workflow_pb2.Task]) -> None:
    """Fills the view from the steps' outputs; TaskOutputError when a completed step lacks one."""
    if (setup := _completed(tasks, "env-setup", EnvSetupOutputs)) is not None:
        view.remote_dir = setup.remote_dir
    if (submitted := _completed(tasks, "submit", SubmitJobOutputs)) is not None:
        view.job_id = submitted.job_id
    elif "submit" in tasks:  # the job id is reported as soon as the job is submitted
        outputs = _outputs(tasks["submit"])
        view.job_id = SubmitJobOutputs.reported(outputs, "job_id", task_id="submit") or ""
    if (monitored := _completed(tasks, "monitor", MonitorJobOutputs)) is not None:
        view.job_exit_code = monitored.exit_code
    if (staged := _completed(tasks, "stage-out", StageOutOutputs)) is not None:
        view.output_locations.extend(staged.locations)
    if (archived := _completed(tasks, "archive", ArchiveOutputs)) is not None:
        view.archive_location = archived.uri


def derive(
    definition: experiment_pb2.Experiment, workflow: workflow_pb2.Workflow
) -> experiment_pb2.Experiment:
    """The experiment as its workflow shows it now (pure). A completed step without one of its
    declared outputs fails the experiment with a message naming the step and the output."""
    view = experiment_pb2.Experiment()
    view.CopyFrom(definition)
    tasks = {t.id: t for t in workflow.tasks}
    view.workflow_id = workflow.id
    view.state = _state(workflow, tasks)
    failed = [
        t
        for t in workflow.tasks
        if t.state in (TS.TASK_STATE_FAILED, TS.TASK_STATE_FATAL_FAILED, TS.TASK_STATE_TIMED_OUT)
    ]
    view.message = workflow.message or (f"{failed[0].id}: {failed[0].message}" if failed else "")
    try:
        _read_outputs(view, tasks)
    except TaskOutputError as exc:
        view.state = ES.EXPERIMENT_STATE_FAILED
        view.message = str(exc)
    return view


def _state(
    workflow: workflow_pb2.Workflow, tasks: dict[str, workflow_pb2.Task]
) -> experiment_pb2.ExperimentState.ValueType:
    terminal = {
        WS.WORKFLOW_STATE_COMPLETED: ES.EXPERIMENT_STATE_COMPLETED,
        WS.WORKFLOW_STATE_FAILED: ES.EXPERIMENT_STATE_FAILED,
        WS.WORKFLOW_STATE_CANCELING: ES.EXPERIMENT_STATE_CANCELING,
        WS.WORKFLOW_STATE_CANCELED: ES.EXPERIMENT_STATE_CANCELED,
    }
    if workflow.state in terminal:
        return terminal[workflow.state]
    started = [
        task_id for task_id, _ in STEPS
        if task_id in tasks and tasks[task_id].state != TS.TASK_STATE_PENDING
    ]  # fmt: skip
    if not started:
        return ES.EXPERIMENT_STATE_CREATED
    current = started[-1]
    if tasks[current].state == TS.TASK_STATE_COMPLETED:
        later = [task_id for task_id, _ in STEPS if task_id in tasks]
        index = later.index(current)
        if index + 1 < len(later):
            return STEP_STATE[later[index + 1]]
    return STEP_STATE[current]


CANCEL_TASK = "cancel-job"


def cleanup_workflow(
    experiment: experiment_pb2.Experiment, workflow: workflow_pb2.Workflow
) -> workflow_pb2.Workflow | None:
    """The workflow that cancels the experiment's batch job, by its name, or None when the job
    is known to have ended. Recorded task states lag the participants a little, so a job is
    presumed possible whenever the monitor has not completed (cancelling no job is harmless)."""
    tasks = {t.id: t for t in workflow.tasks}
    submit, monitor, setup = tasks.get("submit"), tasks.get("monitor"), tasks.get("env-setup")
    if submit is None or setup is None:
        return None
    if monitor is not None and monitor.state == TS.TASK_STATE_COMPLETED:
        return None
    setup_params = json_format.MessageToDict(setup.params)
    remote_dir = posixpath.join(setup_params["compute"]["scratch_root"], setup_params["dir_name"])
    params = json_format.MessageToDict(submit.params)
    task = workflow_pb2.Task(
        id=CANCEL_TASK, type=CancelJobOutputs.TASK_TYPE, instance_group=submit.instance_group
    )
    task.params.update(
        {"compute": params["compute"], "remote_dir": remote_dir, "job_name": params["job_name"]}
    )
    return workflow_pb2.Workflow(
        display_name=f"cancel the job of experiment {experiment.id}"[:200],
        labels={"helicase.experiment": experiment.id[:63], "helicase.cleanup": "cancel-job"},
        tasks=[task],
    )

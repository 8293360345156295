"""How schedules, resources, credentials and experiments look on a terminal. Pure: builds Rich
renderables, prints nothing. The JSON output is helicase.cli._render.to_json of the message."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from helicase.cli._render import _time, styled, workflow_state
from helicase.v1 import experiment_pb2, resource_pb2, schedule_pb2

EXPERIMENT_STYLE = {
    "CREATED": "dim",
    "JOB_ACTIVE": "yellow",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELING": "magenta",
    "CANCELED": "magenta",
}


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _fields(rows: list[tuple[str, RenderableType | str]]) -> Table:
    """A two-column "name  value" grid (what a `get` shows)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def _more(table: Table, next_page_token: str) -> RenderableType:
    if not next_page_token:
        return table
    return Group(table, Text(f"more: --page-token {next_page_token}", style="dim"))


# --- schedules


def schedule_status(schedule: schedule_pb2.Schedule) -> Text:
    return Text("paused", style="magenta") if schedule.paused else Text("active", style="green")


def schedule_list(schedules: list[schedule_pb2.Schedule], next_page_token: str) -> RenderableType:
    table = _table("id", "name", "cron", "zone", "status", "next fire (UTC)", "tasks")
    for s in schedules:
        table.add_row(
            s.id,
            s.display_name,
            s.cron,
            s.time_zone or "UTC",
            schedule_status(s),
            _time(s.next_fire_time),
            str(len(s.workflow.tasks)),
        )
    return _more(table, next_page_token)


def schedule_view(schedule: schedule_pb2.Schedule) -> RenderableType:
    """`schedules get`: the schedule, its next fire time (UTC) and its recent runs."""
    fields = _fields(
        [
            ("id", schedule.id),
            ("name", schedule.display_name),
            ("cron", schedule.cron),
            ("time zone", schedule.time_zone or "UTC"),
            ("status", schedule_status(schedule)),
            ("next fire (UTC)", _time(schedule.next_fire_time) or "-"),
            ("active since", _time(schedule.active_since)),
            ("created", _time(schedule.create_time)),
            (
                "workflow",
                f"{schedule.workflow.display_name} ({len(schedule.workflow.tasks)} tasks)",
            ),
        ]
    )
    if not schedule.recent_runs:
        return Group(fields, Text("no runs yet", style="dim"))
    runs = _table("fire time (UTC)", "workflow", "state")
    for run in schedule.recent_runs:
        state = workflow_state(run.state)
        runs.add_row(_time(run.fire_time), run.workflow_id, styled(state))
    return Group(fields, Text("recent runs", style="bold"), runs)


# --- resources and credentials


def batch_system(value: int) -> str:
    return resource_pb2.BatchSystem.Name(resource_pb2.BatchSystem.ValueType(value)).removeprefix(
        "BATCH_SYSTEM_"
    )


def _endpoint(user: str, host: str, port: int) -> str:
    return f"{user}@{host}:{port or 22}"


def compute_list(
    resources: list[resource_pb2.ComputeResource], next_page_token: str
) -> RenderableType:
    table = _table("id", "name", "login", "batch", "queue", "scratch", "created")
    for r in resources:
        table.add_row(
            r.id,
            r.display_name,
            _endpoint(r.login_user, r.host, r.port),
            batch_system(r.batch_system),
            r.default_queue,
            r.scratch_root,
            _time(r.create_time),
        )
    return _more(table, next_page_token)


def compute_view(r: resource_pb2.ComputeResource) -> RenderableType:
    return _fields(
        [
            ("id", r.id),
            ("name", r.display_name),
            ("login", _endpoint(r.login_user, r.host, r.port)),
            ("batch system", batch_system(r.batch_system)),
            ("default queue", r.default_queue),
            ("scratch root", r.scratch_root),
            ("host key", r.host_key),
            ("created", _time(r.create_time)),
        ]
    )


def storage_list(
    resources: list[resource_pb2.StorageResource], next_page_token: str
) -> RenderableType:
    table = _table("id", "name", "login", "root", "created")
    for r in resources:
        table.add_row(
            r.id,
            r.display_name,
            _endpoint(r.login_user, r.host, r.port),
            r.root_path,
            _time(r.create_time),
        )
    return _more(table, next_page_token)


def storage_view(r: resource_pb2.StorageResource) -> RenderableType:
    return _fields(
        [
            ("id", r.id),
            ("name", r.display_name),
            ("login", _endpoint(r.login_user, r.host, r.port)),
            ("root path", r.root_path),
            ("host key", r.host_key),
            ("created", _time(r.create_time)),
        ]
    )


def credential_list(
    credentials: list[resource_pb2.Credential], next_page_token: str
) -> RenderableType:
    table = _table("id", "name", "fingerprint", "created")
    for c in credentials:
        table.add_row(c.id, c.display_name, c.fingerprint, _time(c.create_time))
    return _more(table, next_page_token)


def credential_view(c: resource_pb2.Credential) -> RenderableType:
    """Id, fingerprint and public key; a private key is never shown (the api returns none)."""
    return _fields(
        [
            ("id", c.id),
            ("name", c.display_name),
            ("fingerprint", c.fingerprint),
            ("public key", c.public_key.strip()),
            ("created", _time(c.create_time)),
        ]
    )


# --- experiments


def experiment_state(value: int) -> str:
    return experiment_pb2.ExperimentState.Name(
        experiment_pb2.ExperimentState.ValueType(value)
    ).removeprefix("EXPERIMENT_STATE_")


def experiment_styled(value: int) -> Text:
    name = experiment_state(value)
    return Text(name, style=EXPERIMENT_STYLE.get(name, "cyan"))


def experiment_list(
    experiments: list[experiment_pb2.Experiment], next_page_token: str
) -> RenderableType:
    table = _table("id", "name", "state", "job", "executable", "created")
    for e in experiments:
        table.add_row(
            e.id,
            e.display_name,
            experiment_styled(e.state),
            e.job_id,
            e.application.executable,
            _time(e.create_time),
        )
    return _more(table, next_page_token)


def experiment_view(e: experiment_pb2.Experiment) -> RenderableType:
    rows: list[tuple[str, RenderableType | str]] = [
        ("id", e.id),
        ("name", e.display_name),
        ("state", experiment_styled(e.state)),
        ("application", " ".join([e.application.executable, *e.application.arguments])),
        ("compute", e.compute_resource_id),
        ("storage", e.storage_resource_id),
        ("credential", e.credential_id),
        ("workflow", e.workflow_id),
        ("created", _time(e.create_time)),
    ]
    if e.job_id:
        rows.append(("job", e.job_id))
    if e.state == experiment_pb2.EXPERIMENT_STATE_COMPLETED or e.job_exit_code:
        rows.append(("exit code", str(e.job_exit_code)))
    if e.remote_dir:
        rows.append(("remote dir", e.remote_dir))
    rows += [("output", location) for location in e.output_locations]
    if e.archive_location:
        rows.append(("archive", e.archive_location))
    if e.message:
        rows.append(("message", Text(e.message, style="red")))
    return _fields(rows)

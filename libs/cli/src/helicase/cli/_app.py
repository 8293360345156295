"""The `helicase` commands. Each is thin: parse options, call the client, render.

Workflow commands are here; `schedules`, `resources`, `credentials`, `experiments` and `admin`
are command groups of their own modules. Exit codes: see helicase.cli._base."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import RenderableType

from helicase.cli import (
    _admin,
    _admin_keys,
    _admin_purge,
    _dead_letters,
    _experiments,
    _render,
    _resources,
    _schedules,
)
from helicase.cli._base import (
    Output,
    Reason,
    RequestId,
    Settings,
    Watch,
    create_then_follow,
    exit_unless,
    follow,
    out,
    show,
    usage_error,
)
from helicase.cli._base import print_json as _print_json
from helicase.cli._base import run as _run
from helicase.cli._base import settings_of as _settings
from helicase.cli._input import InputError, parse_labels, read_workflow
from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.config import DEFAULT_API_ADDR
from helicase.v1 import workflow_pb2, workflow_service_pb2

app = typer.Typer(
    name="helicase",
    help="Submit, watch, list and cancel Helicase workflows; manage schedules, resources,"
    " credentials, experiments and tenants' limits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


WorkflowId = Annotated[str, typer.Argument(metavar="ID", help="Workflow id.")]


@app.callback()
def main(
    ctx: typer.Context,
    api: Annotated[
        str, typer.Option("--api", envvar="HELICASE_API_ADDR", help="Address of the api.")
    ] = DEFAULT_API_ADDR,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table (for people) or json (for scripts).")
    ] = Output.table,
    timeout: Annotated[float, typer.Option(help="Deadline of each call, in seconds.")] = 10.0,
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="HELICASE_TOKEN",
            show_default=False,
            show_envvar=True,
            help="Bearer token (an API key or a JWT) sent with every call.",
        ),
    ] = "",
) -> None:
    ctx.obj = Settings(api=api, output=output, timeout=timeout, token=token)


def _exit_for(workflow: workflow_pb2.Workflow) -> None:
    exit_unless(workflow.state == workflow_pb2.WORKFLOW_STATE_COMPLETED)


async def _watch(
    client: HelicaseClient, workflow_id: str, settings: Settings
) -> workflow_pb2.Workflow:
    """Follows the workflow until it is terminal: a live table on a terminal, the final table
    otherwise, one JSON object per line with --output json."""

    def live_view(workflow: workflow_pb2.Workflow) -> RenderableType:
        rows = max(out.size.height - 8, 5)  # header, progress, table head, "more"
        return _render.workflow_view(workflow, rows)

    view = _render.workflow_view
    last = await follow(client.watch(workflow_id), settings, view, live_view, 8)
    if last is None:  # the stream ended without an update: read it once
        last = await client.get(workflow_id)
    return last


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Workflow as JSON or YAML; - reads standard input.")],
    watch: Watch = False,
    request_id: RequestId = "",
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE, added to the workflow.")
    ] = None,
) -> None:
    """Submit a workflow (the design's JSON shape, or the same in YAML)."""
    settings = _settings(ctx)
    try:
        raw = read_workflow(file)
        labels = parse_labels(label or [])
        request = load_workflow_request(raw)
    except (InputError, ValueError) as exc:
        usage_error(exc)
    if request_id:
        request.request_id = request_id
    request.workflow.labels.update(labels)

    workflow = create_then_follow(
        settings,
        lambda client: client.create(request),
        watch,
        "submitted",
        lambda client, workflow_id: _watch(client, workflow_id, settings),
    )
    if not watch:
        if settings.output is Output.json:
            _print_json(_render.to_json(workflow))
        else:
            out.print(workflow.id)
        return
    _exit_for(workflow)


@app.command()
def get(
    ctx: typer.Context,
    workflow_id: WorkflowId,
) -> None:
    """Show a workflow and its tasks."""
    settings = _settings(ctx)
    workflow = _run(settings, lambda client: client.get(workflow_id))
    show(settings, workflow, _render.workflow_view)


_STATES = [_render.workflow_state(v) for v in workflow_pb2.WorkflowState.values() if v]


@app.command("list")
def list_(
    ctx: typer.Context,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE; all must match.")
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help=f"Any of: {', '.join(_STATES)} (repeatable)."),
    ] = None,
    page_size: Annotated[int, typer.Option(min=0, max=500, help="0 = the api's default.")] = 0,
    page_token: Annotated[str, typer.Option(help="next_page_token of a previous page.")] = "",
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
) -> None:
    """List workflows, newest first, with filters and paging."""
    settings = _settings(ctx)
    try:
        labels = parse_labels(label or [])
        states = [_state_value(s) for s in state or []]
    except InputError as exc:
        usage_error(exc)

    async def work(
        client: HelicaseClient,
    ) -> tuple[list[workflow_pb2.Workflow], str]:
        found: list[workflow_pb2.Workflow] = []
        token = page_token
        while True:
            request = workflow_service_pb2.ListWorkflowsRequest(
                page_size=page_size, page_token=token, labels=labels, states=states
            )
            response = await client.list_workflows(request)
            found.extend(response.workflows)
            token = response.next_page_token
            if not all_pages or not token:
                return found, token

    workflows, token = _run(settings, work)
    if settings.output is Output.json:
        _print_json({"workflows": [_render.to_json(w) for w in workflows], "nextPageToken": token})
    else:
        out.print(_render.workflow_list(workflows, token))


def _state_value(name: str) -> workflow_pb2.WorkflowState.ValueType:
    key = name.upper().removeprefix("WORKFLOW_STATE_")
    if key not in _STATES:
        raise InputError(f"state {name!r}: expected one of {', '.join(_STATES)}")
    return workflow_pb2.WorkflowState.Value(f"WORKFLOW_STATE_{key}")


@app.command()
def watch(
    ctx: typer.Context,
    workflow_id: WorkflowId,
) -> None:
    """Follow a workflow's tasks live until it ends; exit 0 only if it COMPLETED."""
    settings = _settings(ctx)
    workflow = _run(settings, lambda client: _watch(client, workflow_id, settings))
    _exit_for(workflow)


@app.command()
def cancel(
    ctx: typer.Context,
    workflow_id: WorkflowId,
    reason: Reason = "",
) -> None:
    """Cancel a workflow (cancelling one already cancelled succeeds)."""
    settings = _settings(ctx)
    workflow = _run(settings, lambda client: client.cancel(workflow_id, reason))
    if settings.output is Output.json:
        _print_json(_render.to_json(workflow))
    else:
        out.print(workflow.id, _render.styled(_render.workflow_state(workflow.state)))


@app.command("task-types")
def task_types(
    ctx: typer.Context,
    group: Annotated[str, typer.Option(help="Only types served in this instance group.")] = "",
) -> None:
    """List the task types live participants serve, with their parameters."""
    settings = _settings(ctx)
    types = _run(settings, lambda client: client.task_types(group))
    if settings.output is Output.json:
        _print_json({"taskTypes": [_render.to_json(t) for t in types]})
    else:
        out.print(_render.task_type_table(types))


@app.command()
def participants(
    ctx: typer.Context,
    group: Annotated[str, typer.Option(help="Only participants of this instance group.")] = "",
    task_type: Annotated[str, typer.Option(help="Only participants serving this type.")] = "",
) -> None:
    """List the live participants: group, task types, load/capacity, connected since."""
    settings = _settings(ctx)
    found = _run(settings, lambda client: client.participants(group, task_type))
    if settings.output is Output.json:
        _print_json({"participants": [_render.to_json(p) for p in found]})
    else:
        out.print(_render.participant_table(found))


app.add_typer(_schedules.app)
app.add_typer(_resources.resources)
app.add_typer(_resources.credentials)
app.add_typer(_experiments.app)

_admin.app.add_typer(_dead_letters.app)
_admin.app.command()(_admin_purge.purge)
_admin.app.command()(_admin_keys.rotate_credential_key)
app.add_typer(_admin.app)

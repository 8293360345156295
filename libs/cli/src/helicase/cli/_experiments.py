"""`helicase experiments ...`: Airavata-style experiments (ExperimentService)."""

from __future__ import annotations

from typing import Annotated

import typer

from helicase.cli import _render, _render_objects
from helicase.cli._base import (
    Output,
    Reason,
    RequestId,
    Settings,
    Watch,
    create_then_follow,
    exit_unless,
    follow,
    list_command,
    load_request,
    out,
    print_json,
    run,
    settings_of,
    show,
)
from helicase.client import HelicaseClient
from helicase.v1 import experiment_pb2

app = typer.Typer(
    name="experiments",
    help="Run applications on registered clusters: create, list, get, watch, cancel.",
    no_args_is_help=True,
)

ExperimentId = Annotated[str, typer.Argument(metavar="ID", help="Experiment id.")]


def _show(settings: Settings, experiment: experiment_pb2.Experiment) -> None:
    show(settings, experiment, _render_objects.experiment_view)


@app.command()
def create(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="An Experiment (application, inputs, outputs, computeResourceId,"
            " storageResourceId, credentialId, resourceRequest) or a CreateExperimentRequest,"
            " as JSON or YAML; - reads standard input."
        ),
    ],
    request_id: RequestId = "",
    watch: Watch = False,
) -> None:
    """Create an experiment: its workflow is launched at once."""
    settings = settings_of(ctx)
    request = load_request(
        file, experiment_pb2.CreateExperimentRequest(), "experiment", "an experiment"
    )
    key = request_id or request.request_id

    experiment = create_then_follow(
        settings,
        lambda client: client.create_experiment(request.experiment, key),
        watch,
        "created",
        lambda client, experiment_id: _watch(client, experiment_id, settings),
    )
    if not watch:
        _show(settings, experiment)
        return
    _exit_for(experiment)


list_command(
    app,
    "list",
    "List experiments, newest first.",
    "experiments",
    lambda client, size, token: client.list_experiments(size, token),
    lambda response: response.experiments,
    _render_objects.experiment_list,
)


@app.command()
def get(ctx: typer.Context, experiment_id: ExperimentId) -> None:
    """Show an experiment: state, batch job, output locations, why it failed."""
    settings = settings_of(ctx)
    _show(settings, run(settings, lambda client: client.get_experiment(experiment_id)))


def _exit_for(experiment: experiment_pb2.Experiment) -> None:
    exit_unless(experiment.state == experiment_pb2.EXPERIMENT_STATE_COMPLETED)


async def _watch(
    client: HelicaseClient, experiment_id: str, settings: Settings
) -> experiment_pb2.Experiment:
    """Follows the experiment until it is terminal: live on a terminal, the final view
    otherwise, one JSON object per change with --output json."""
    view = _render_objects.experiment_view
    last = await follow(client.watch_experiment(experiment_id), settings, view, view, 4)
    assert last is not None  # watch_experiment yields at least once or raises
    return last


@app.command()
def watch(ctx: typer.Context, experiment_id: ExperimentId) -> None:
    """Follow an experiment until it ends; exit 0 only if it COMPLETED (1 otherwise)."""
    settings = settings_of(ctx)
    _exit_for(run(settings, lambda client: _watch(client, experiment_id, settings)))


@app.command()
def cancel(
    ctx: typer.Context,
    experiment_id: ExperimentId,
    reason: Reason = "",
) -> None:
    """Cancel an experiment (and its batch job on the cluster, if it may exist)."""
    settings = settings_of(ctx)
    response = run(settings, lambda client: client.cancel_experiment(experiment_id, reason))
    if settings.output is Output.json:
        print_json(_render.to_json(response))
        return
    experiment = response.experiment
    out.print(experiment.id, _render_objects.experiment_styled(experiment.state))
    if response.cleanup_workflow_id:
        out.print(f"cleanup workflow {response.cleanup_workflow_id}")

"""`helicase schedules ...`: recurring workflows (ScheduleService)."""

from __future__ import annotations

from typing import Annotated

import typer

from helicase.cli import _render_objects
from helicase.cli._base import (
    Output,
    RequestId,
    create_from_file,
    list_command,
    out,
    print_json,
    run,
    settings_of,
    show,
)
from helicase.v1 import schedule_pb2

app = typer.Typer(
    name="schedules",
    help="Recurring workflows: create, list, get, pause, resume, delete.",
    no_args_is_help=True,
)

ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="Schedule id.")]


def _show(ctx: typer.Context, schedule: schedule_pb2.Schedule) -> None:
    show(settings_of(ctx), schedule, _render_objects.schedule_view)


@app.command()
def create(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="A Schedule (displayName, cron, timeZone, workflow) or a CreateScheduleRequest,"
            " as JSON or YAML; - reads standard input."
        ),
    ],
    request_id: RequestId = "",
) -> None:
    """Create a schedule; it fires from its next cron time on."""
    settings = settings_of(ctx)
    made = create_from_file(
        settings,
        file,
        schedule_pb2.CreateScheduleRequest(),
        "schedule",
        "a schedule",
        request_id,
        lambda client, schedule, key: client.create_schedule(schedule, key),
    )
    _show(ctx, made)


list_command(
    app,
    "list",
    "List schedules, oldest first, with their next fire times.",
    "schedules",
    lambda client, size, token: client.list_schedules(size, token),
    lambda response: response.schedules,
    _render_objects.schedule_list,
)


@app.command()
def get(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Show a schedule: its next fire time and the workflows it created recently."""
    _show(ctx, run(settings_of(ctx), lambda client: client.get_schedule(schedule_id)))


@app.command()
def pause(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Pause a schedule: it does not fire, and times missed meanwhile are not made up."""
    settings = settings_of(ctx)
    _show(ctx, run(settings, lambda client: client.set_schedule_paused(schedule_id, True)))


@app.command()
def resume(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Resume a paused schedule; it fires from its next cron time on."""
    settings = settings_of(ctx)
    _show(ctx, run(settings, lambda client: client.set_schedule_paused(schedule_id, False)))


@app.command()
def delete(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Delete a schedule; the workflows it created are kept."""
    settings = settings_of(ctx)
    run(settings, lambda client: client.delete_schedule(schedule_id))
    if settings.output is Output.json:
        print_json({"id": schedule_id, "deleted": True})
    else:
        out.print(f"deleted {schedule_id}")

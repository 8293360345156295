"""`helicase admin dead-letters ...`: list and replay the dead-letter topics (DeadLetterService,
platform admin only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from helicase.cli._base import (
    AllPages,
    Output,
    PageToken,
    out,
    print_json,
    run,
    settings_of,
    show_pages,
    usage_error,
)
from helicase.client import HelicaseClient
from helicase.v1 import dead_letter_pb2

app = typer.Typer(
    name="dead-letters",
    help="Messages a consumer could never process: list them, replay them to their topic.",
    no_args_is_help=True,
)


class Kind(StrEnum):
    events = "events"
    commands = "commands"
    participants = "participants"


KIND_VALUES = {
    Kind.events: dead_letter_pb2.DEAD_LETTER_KIND_EVENTS,
    Kind.commands: dead_letter_pb2.DEAD_LETTER_KIND_COMMANDS,
    Kind.participants: dead_letter_pb2.DEAD_LETTER_KIND_PARTICIPANT_MESSAGES,
}
KindOption = Annotated[Kind | None, typer.Option("--kind", help="Only this dead-letter topic.")]
PREVIEW_CHARS = 60


def _kind(kind: Kind | None) -> dead_letter_pb2.DeadLetterKind.ValueType:
    return KIND_VALUES[kind] if kind is not None else dead_letter_pb2.DEAD_LETTER_KIND_UNSPECIFIED


def _preview(letter: dead_letter_pb2.DeadLetter) -> str:
    text = letter.value_preview[:PREVIEW_CHARS].decode(errors="replace")
    return "".join(c if c.isprintable() else "·" for c in text)


def letter_table(letters: list[dead_letter_pb2.DeadLetter], next_page_token: str) -> RenderableType:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("id", "time (UTC)", "consumer", "origin", "bytes", "reason", "value"):
        table.add_column(column, overflow="fold")
    for d in letters:
        origin = d.participant or f"{d.origin_topic}[{d.origin_partition}]@{d.origin_offset}"
        when = d.dead_letter_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(d.id, when, d.consumer, origin, str(d.value_size), d.reason, _preview(d))
    if not next_page_token:
        return table
    return Group(table, Text(f"more: --page-token {next_page_token}", style="dim"))


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: KindOption = None,
    page_size: Annotated[int, typer.Option(min=0, max=200, help="0 = the api's default.")] = 0,
    page_token: PageToken = "",
    all_pages: AllPages = False,
) -> None:
    """List dead letters, oldest first: why each could not be processed, where it came from."""
    show_pages(
        settings_of(ctx),
        "deadLetters",
        lambda client, token: client.list_dead_letters(_kind(kind), page_size, token),
        lambda response: response.dead_letters,
        letter_table,
        page_token,
        all_pages,
    )


@app.command()
def replay(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Dead letter ids (from list).")
    ] = None,
    kind: KindOption = None,
) -> None:
    """Re-publish dead letters to their topics: the IDs given, or every one of --kind."""
    if bool(ids) == (kind is not None):
        usage_error("give either dead letter IDs or --kind")

    async def work(client: HelicaseClient) -> tuple[int, int]:
        if ids:
            done = await client.replay_dead_letters(ids)
            return done.replayed_count, done.skipped_count
        replayed = skipped = 0
        token = ""
        while True:
            done = await client.replay_dead_letters(kind=_kind(kind), resume_token=token)
            replayed, skipped = replayed + done.replayed_count, skipped + done.skipped_count
            token = done.next_resume_token
            if not token:
                return replayed, skipped

    replayed, skipped = run(settings_of(ctx), work)
    if settings_of(ctx).output is Output.json:
        print_json({"replayedCount": replayed, "skippedCount": skipped})
    else:
        out.print(f"replayed {replayed}, skipped {skipped} (from no topic)")

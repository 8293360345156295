"""What every `helicase` command shares: the global settings, the consoles, exit codes, and
running a call with a client (an RPC error printed on stderr becomes exit code 3).

Exit codes: 0 success (for `watch`, `submit --watch` and `experiments watch`: it COMPLETED); 1 it
ended FAILED or CANCELED; 2 bad usage or an unreadable file; 3 the api refused or could not be
reached (the gRPC code and any field violations are printed on stderr)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import grpc
import typer
from google.protobuf.message import Message
from rich.console import Console, RenderableType
from rich.live import Live

from helicase.cli import _render
from helicase.cli._input import InputError, read_workflow, to_request
from helicase.client import HelicaseClient

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound=Message)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Created = TypeVar("Created", bound=_Identified)

EXIT_NOT_COMPLETED = 1
EXIT_USAGE = 2
EXIT_API = 3

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Output(StrEnum):
    """How results are printed."""

    table = "table"
    json = "json"


@dataclass(frozen=True)
class Settings:
    api: str
    output: Output
    timeout: float
    token: str = field(default="", repr=False)  # a secret: never printed


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def run(settings: Settings, work: Callable[[HelicaseClient], Awaitable[T]]) -> T:
    """Runs `work` with a client; an RPC error is printed and becomes exit code 3."""

    async def go() -> T:
        async with HelicaseClient(
            settings.api, token=settings.token, timeout=settings.timeout
        ) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as exc:
        for line in _render.rpc_error_lines(exc):
            err.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_API) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def usage_error(message: object) -> NoReturn:
    """Prints `error: message` on stderr (unwrapped: a path in it stays whole) and exits 2."""
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


PageSize = Annotated[int, typer.Option(min=0, max=500, help="0 = the api's default.")]
PageToken = Annotated[str, typer.Option(help="next_page_token of a previous page.")]
AllPages = Annotated[bool, typer.Option("--all", help="Follow every page.")]
Reason = Annotated[str, typer.Option(help="Why (recorded with the workflow).")]
Watch = Annotated[
    bool, typer.Option("--watch", "-w", help="Follow it; exit 0 only if it COMPLETED.")
]
RequestId = Annotated[
    str, typer.Option(help="Idempotency key (default: the file's requestId, or a new one).")
]


async def collect_pages(
    fetch: Callable[[str], Awaitable[R]],
    items: Callable[[R], Sequence[T]],
    page_token: str,
    all_pages: bool,
) -> tuple[list[T], str]:
    """One page from `page_token` on, or every page with `all_pages`; returns the items and
    the next page's token ("" after the last)."""
    found: list[T] = []
    token = page_token
    while True:
        response = await fetch(token)
        found.extend(items(response))
        token = getattr(response, "next_page_token", "")
        if not all_pages or not token:
            return found, token


def show_pages(
    settings: Settings,
    key: str,
    fetch: Callable[[HelicaseClient, str], Awaitable[R]],
    items: Callable[[R], Sequence[M]],
    table: Callable[[list[M], str], Any],
    page_token: str,
    all_pages: bool,
) -> None:
    """A list command: fetches one page (or all) and prints them as `table` or, with `-o json`,
    as {key: [...], "nextPageToken": ...}."""

    async def work(client: HelicaseClient) -> tuple[list[M], str]:
        return await collect_pages(lambda token: fetch(client, token), items, page_token, all_pages)

    found, token = run(settings, work)
    if settings.output is Output.json:
        print_json({key: [_render.to_json(i) for i in found], "nextPageToken": token})
    else:
        out.print(table(found, token))


def show(settings: Settings, message: M, view: Callable[[M], RenderableType]) -> None:
    """Prints one object: as `view` renders it or, with `-o json`, as its proto JSON."""
    if settings.output is Output.json:
        print_json(_render.to_json(message))
    else:
        out.print(view(message))


def list_command(
    group: typer.Typer,
    name: str,
    summary: str,
    key: str,
    fetch: Callable[[HelicaseClient, int, str], Awaitable[R]],
    items: Callable[[R], Sequence[M]],
    table: Callable[[list[M], str], Any],
) -> None:
    """Adds command `name` to `group`: a paged list (--page-size, --page-token, --all)
    printed by show_pages; `fetch(client, page_size, page_token)` reads one page."""

    def list_(
        ctx: typer.Context,
        page_size: PageSize = 0,
        page_token: PageToken = "",
        all_pages: AllPages = False,
    ) -> None:
        show_pages(
            settings_of(ctx),
            key,
            lambda client, token: fetch(client, page_size, token),
            items,
            table,
            page_token,
            all_pages,
        )

    list_.__doc__ = summary
    group.command(name)(list_)


async def follow(
    updates: AsyncIterator[M],
    settings: Settings,
    view: Callable[[M], RenderableType],
    live_view: Callable[[M], RenderableType],
    refresh_per_second: int,
) -> M | None:
    """Follows `updates` to their end: `live_view` redrawn live on a terminal, `view` of the
    last one otherwise, one JSON object per line with `-o json`. Returns the last update
    (None when there was none)."""
    last: M | None = None
    if settings.output is Output.json:
        async for last in updates:
            sys.stdout.write(json.dumps(_render.to_json(last)) + "\n")
            sys.stdout.flush()
    elif out.is_terminal:
        with Live(console=out, refresh_per_second=refresh_per_second, transient=False) as live:
            async for last in updates:
                live.update(live_view(last))
    else:
        async for update in updates:
            last = update
        if last is not None:
            out.print(view(last))
    return last


def exit_unless(completed: bool) -> None:
    """Exit code 1 unless what was followed ended COMPLETED."""
    if not completed:
        raise typer.Exit(EXIT_NOT_COMPLETED)


def create_then_follow(
    settings: Settings,
    create: Callable[[HelicaseClient], Awaitable[Created]],
    watch: bool,
    said: str,
    follow_one: Callable[[HelicaseClient, str], Awaitable[Created]],
) -> Created:
    """Runs `create`; with `watch`, prints "<said> <id>" (table output) and returns what
    `follow_one` returns, the object followed to its end."""

    async def work(client: HelicaseClient) -> Created:
        created = await create(client)
        if not watch:
            return created
        if settings.output is Output.table:
            out.print(f"{said} {created.id}")
        return await follow_one(client, created.id)

    return run(settings, work)


def load_request(source: str, request: M, field: str, what: str) -> M:
    """The request in file `source` ("-": standard input), or exit 2 naming what is wrong."""
    try:
        return to_request(read_workflow(source, what=what), request, field)
    except InputError as exc:
        usage_error(exc)


def create_from_file(
    settings: Settings,
    source: str,
    request: Message,
    field: str,
    what: str,
    request_id: str,
    create: Callable[[HelicaseClient, Any, str], Awaitable[T]],
) -> T:
    """A create command: loads the Create...Request (or its bare `field`) from `source` and
    calls `create(client, the request's field, idempotency key)`; --request-id wins over
    the file's requestId."""
    loaded = load_request(source, request, field, what)
    key = request_id or str(getattr(loaded, "request_id", ""))
    resource = getattr(loaded, field)
    return run(settings, lambda client: create(client, resource, key))

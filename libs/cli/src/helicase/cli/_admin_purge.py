"""`helicase admin purge`: purge (or, with --dry-run, count) the finished workflows past the
api's retention TTL (RetentionService.PurgeWorkflows). Each workflow is archived by the api
before it goes (HELICASE_RETENTION_ARCHIVE_DIR)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from google.protobuf import duration_pb2

from helicase.cli import _render
from helicase.cli._base import Output, out, print_json, run, settings_of, usage_error
from helicase.common.config import ConfigError, parse_duration
from helicase.v1 import retention_pb2

PURGE_TIMEOUT = 600.0  # a purge goes in batches: it may take minutes


def older_than(text: str) -> timedelta:
    """ "90d", "720h", "45m", "30s" or a bare number of seconds."""
    raw = text.strip()
    try:
        if raw.endswith("d"):
            return timedelta(days=float(raw[:-1]))
        return parse_duration(raw)
    except (ConfigError, ValueError):
        usage_error(f"--older-than {text!r} is not a duration (e.g. 90d, 720h)")


def purge(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would go; change nothing.")
    ] = False,
    older_than_text: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Purge what finished longer ago than this (90d, 720h); at least the api's TTL."
            " Default: the TTL.",
        ),
    ] = "",
    tenant: Annotated[
        str, typer.Option(help="Platform admin: only this tenant (default: every tenant).")
    ] = "",
) -> None:
    """Purge finished workflows (with their tasks and events) past the retention TTL."""
    settings = settings_of(ctx)
    request = retention_pb2.PurgeWorkflowsRequest(dry_run=dry_run, tenant_id=tenant)
    if older_than_text:
        age = duration_pb2.Duration()
        age.FromTimedelta(older_than(older_than_text))
        request.older_than.CopyFrom(age)
    timeout = max(settings.timeout, PURGE_TIMEOUT)
    done = run(settings, lambda client: client.purge_workflows(request, within=timeout))
    if settings.output is Output.json:
        print_json(_render.to_json(done))
        return
    verb = "would purge" if done.dry_run else "purged"
    out.print(
        f"{verb} {done.purge_count} workflows, {done.tasks} tasks, {done.events} events,"
        f" {done.outbox_rows} outbox rows",
        markup=False,
    )
    for workflow_id in done.purge_sample:
        out.print(f"  {workflow_id}", markup=False)

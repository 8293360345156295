"""`helicase admin tenants ...`: a tenant's fair-use limits (AdminService.GetTenantLimits,
UpdateTenantLimits)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from helicase.cli._base import run, settings_of, show, usage_error
from helicase.client import HelicaseClient
from helicase.v1 import admin_pb2

app = typer.Typer(
    name="admin",
    help="Operating the platform: tenants' limits, dead letters, retention purge, credential key"
    " rotation.",
    no_args_is_help=True,
)
tenants = typer.Typer(name="tenants", help="Tenants' fair-use limits.", no_args_is_help=True)
app.add_typer(tenants)

LIMIT_HELP = {
    "requests_per_second": "request units a second to one api replica (a read 1, a start 20)",
    "request_burst": "request units at once above the rate",
    "max_watch_streams": "open WatchWorkflow streams on one api replica",
    "max_running_workflows": "workflows one scheduler runs at once (more wait)",
    "max_queued_tasks": "tasks of unfinished workflows (more are refused)",
    "max_queued_bytes": "bytes of unfinished workflows' definitions (more are refused)",
}
Limit = Annotated[int | None, typer.Option(min=0, show_default=False)]


def limits_view(response: admin_pb2.GetTenantLimitsResponse) -> Table:
    table = Table(
        title=f"tenant {response.tenant_limits.tenant_id}", show_edge=False, header_style="bold"
    )
    for column in ("limit", "set (0: default)", "in force (0: none)", "what"):
        table.add_column(column)
    for name, what in LIMIT_HELP.items():
        set_, used = getattr(response.tenant_limits, name), getattr(response.effective_limits, name)
        table.add_row(name, str(set_), str(used), what)
    return table


@tenants.command("limits")
def limits(
    ctx: typer.Context,
    tenant_id: Annotated[
        str, typer.Argument(metavar="[TENANT]", help="The tenant (default: the caller's).")
    ] = "",
) -> None:
    """Show a tenant's fair-use limits: those set for it and those in force."""
    settings = settings_of(ctx)
    show(settings, run(settings, lambda c: c.get_tenant_limits(tenant_id)), limits_view)


@tenants.command("set-limits")
def set_limits(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(metavar="TENANT", help="The tenant.")],
    requests_per_second: Limit = None,
    request_burst: Limit = None,
    max_watch_streams: Limit = None,
    max_running_workflows: Limit = None,
    max_queued_tasks: Limit = None,
    max_queued_bytes: Limit = None,
) -> None:
    """Set some of a tenant's limits (platform admin); 0 restores the default. Api replicas
    apply them within HELICASE_TENANT_LIMITS_CACHE, schedulers from the tenant's next launch."""
    given = {
        "requests_per_second": requests_per_second,
        "request_burst": request_burst,
        "max_watch_streams": max_watch_streams,
        "max_running_workflows": max_running_workflows,
        "max_queued_tasks": max_queued_tasks,
        "max_queued_bytes": max_queued_bytes,
    }
    chosen = {name: value for name, value in given.items() if value is not None}
    if not chosen:
        usage_error("name at least one limit, e.g. --requests-per-second 50")
    wanted = admin_pb2.TenantLimits(tenant_id=tenant_id, **chosen)
    settings = settings_of(ctx)

    async def work(client: HelicaseClient) -> admin_pb2.GetTenantLimitsResponse:
        await client.update_tenant_limits(wanted, list(chosen))
        return await client.get_tenant_limits(tenant_id)

    show(settings, run(settings, work), limits_view)

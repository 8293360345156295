"""`helicase resources compute|storage ...` and `helicase credentials ...`: the api's records
of where experiments run, where their files live, and the SSH keys that log in (ResourceService).
A private key is read from a file, sent once, and never printed: the api returns only the
public key and its fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from google.protobuf.message import Message
from rich.console import RenderableType

from helicase.cli import _render, _render_objects
from helicase.cli._base import (
    AllPages,
    Output,
    PageSize,
    PageToken,
    RequestId,
    Settings,
    load_request,
    out,
    print_json,
    run,
    settings_of,
    show_pages,
    usage_error,
)
from helicase.cli._input import InputError, read_text
from helicase.v1 import resource_pb2

resources = typer.Typer(
    name="resources",
    help="Compute resources (clusters over SSH) and storage resources (SFTP servers).",
    no_args_is_help=True,
)
compute = typer.Typer(
    name="compute", help="Clusters' login nodes: create, list, get.", no_args_is_help=True
)
storage = typer.Typer(name="storage", help="SFTP servers: create, list, get.", no_args_is_help=True)
resources.add_typer(compute)
resources.add_typer(storage)
credentials = typer.Typer(
    name="credentials",
    help="SSH credentials (private keys sealed at rest, never shown): create, list, get.",
    no_args_is_help=True,
)

ResourceId = Annotated[str, typer.Argument(metavar="ID", help="Resource id.")]
ResourceFile = Annotated[
    str,
    typer.Argument(
        help="The resource (proto JSON names, e.g. batchSystem: BATCH_SYSTEM_SLURM) or its"
        " Create...Request, as JSON or YAML; - reads standard input."
    ),
]


def _show(settings: Settings, message: Message, view: RenderableType) -> None:
    if settings.output is Output.json:
        print_json(_render.to_json(message))
    else:
        out.print(view)


def _without_keys(credentials: Sequence[resource_pb2.Credential]) -> list[resource_pb2.Credential]:
    """The api never returns a private key; should one ever come, it is not printed."""
    for credential in credentials:
        credential.ClearField("private_key")
    return list(credentials)


# --- compute


@compute.command("create")
def compute_create(ctx: typer.Context, file: ResourceFile, request_id: RequestId = "") -> None:
    """Register a compute resource (host, loginUser, batchSystem, hostKey, ...)."""
    settings = settings_of(ctx)
    request = load_request(
        file,
        resource_pb2.CreateComputeResourceRequest(),
        "compute_resource",
        "a compute resource",
    )
    key = request_id or request.request_id
    made = run(settings, lambda c: c.create_compute_resource(request.compute_resource, key))
    _show(settings, made, _render_objects.compute_view(made))


@compute.command("list")
def compute_list(
    ctx: typer.Context,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    all_pages: AllPages = False,
) -> None:
    """List compute resources, newest first."""
    show_pages(
        settings_of(ctx),
        "computeResources",
        lambda client, token: client.list_compute_resources(page_size, token),
        lambda response: response.compute_resources,
        _render_objects.compute_list,
        page_token,
        all_pages,
    )


@compute.command("get")
def compute_get(ctx: typer.Context, resource_id: ResourceId) -> None:
    """Show a compute resource."""
    settings = settings_of(ctx)
    found = run(settings, lambda client: client.get_compute_resource(resource_id))
    _show(settings, found, _render_objects.compute_view(found))


# --- storage


@storage.command("create")
def storage_create(ctx: typer.Context, file: ResourceFile, request_id: RequestId = "") -> None:
    """Register a storage resource (host, loginUser, rootPath, hostKey, ...)."""
    settings = settings_of(ctx)
    request = load_request(
        file,
        resource_pb2.CreateStorageResourceRequest(),
        "storage_resource",
        "a storage resource",
    )
    key = request_id or request.request_id
    made = run(settings, lambda c: c.create_storage_resource(request.storage_resource, key))
    _show(settings, made, _render_objects.storage_view(made))


@storage.command("list")
def storage_list(
    ctx: typer.Context,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    all_pages: AllPages = False,
) -> None:
    """List storage resources, newest first."""
    show_pages(
        settings_of(ctx),
        "storageResources",
        lambda client, token: client.list_storage_resources(page_size, token),
        lambda response: response.storage_resources,
        _render_objects.storage_list,
        page_token,
        all_pages,
    )


@storage.command("get")
def storage_get(ctx: typer.Context, resource_id: ResourceId) -> None:
    """Show a storage resource."""
    settings = settings_of(ctx)
    found = run(settings, lambda client: client.get_storage_resource(resource_id))
    _show(settings, found, _render_objects.storage_view(found))


# --- credentials


@credentials.command("create")
def credential_create(
    ctx: typer.Context,
    private_key_file: Annotated[
        str,
        typer.Option(
            "--private-key-file",
            help="Unencrypted OpenSSH or PEM private key; - reads standard input.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    request_id: Annotated[str, typer.Option(help="Idempotency key (default: a new one).")] = "",
) -> None:
    """Store an SSH key; shows its id, fingerprint and public key (never the private key)."""
    settings = settings_of(ctx)
    try:
        private_key = read_text(private_key_file)
    except InputError as exc:
        usage_error(exc)
    if not private_key.strip():
        usage_error(f"{private_key_file}: empty")
    made = run(settings, lambda c: c.create_credential(private_key, name, request_id))
    made.ClearField("private_key")  # the api returns none; never print one whatever happens
    _show(settings, made, _render_objects.credential_view(made))


@credentials.command("list")
def credential_list(
    ctx: typer.Context,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    all_pages: AllPages = False,
) -> None:
    """List credentials, newest first: names and fingerprints."""
    show_pages(
        settings_of(ctx),
        "credentials",
        lambda client, token: client.list_credentials(page_size, token),
        lambda response: _without_keys(response.credentials),
        _render_objects.credential_list,
        page_token,
        all_pages,
    )


@credentials.command("get")
def credential_get(
    ctx: typer.Context,
    credential_id: Annotated[str, typer.Argument(metavar="ID", help="Credential id.")],
) -> None:
    """Show a credential: fingerprint and public key."""
    settings = settings_of(ctx)
    found = run(settings, lambda client: client.get_credential(credential_id))
    found.ClearField("private_key")
    _show(settings, found, _render_objects.credential_view(found))

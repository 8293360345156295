"""`helicase resources compute|storage ...` and `helicase credentials ...`: the api's records
of where experiments run, where their files live, and the SSH keys that log in (ResourceService).
A private key is read from a file, sent once, and never printed: the api returns only the
public key and its fingerprint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from google.protobuf.message import Message
from rich.console import RenderableType

from helicase.cli import _render_objects
from helicase.cli._base import (
    RequestId,
    create_from_file,
    list_command,
    run,
    settings_of,
    show,
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
CredentialId = Annotated[str, typer.Argument(metavar="ID", help="Credential id.")]
ResourceFile = Annotated[
    str,
    typer.Argument(
        help="The resource (proto JSON names, e.g. batchSystem: BATCH_SYSTEM_SLURM) or its"
        " Create...Request, as JSON or YAML; - reads standard input."
    ),
]


def _without_keys(credentials: Sequence[resource_pb2.Credential]) -> list[resource_pb2.Credential]:
    """The api never returns a private key; should one ever come, it is not printed."""
    for credential in credentials:
        credential.ClearField("private_key")
    return list(credentials)


# --- compute and storage


def _resource_commands(
    group: typer.Typer,
    kind: str,
    fields: str,
    request: Callable[[], Message],
    view: Callable[[Any], RenderableType],
    table: Callable[[list[Any], str], RenderableType],
) -> None:
    """create, list and get for one kind of resource: they call the client's
    create_<kind>_resource, list_<kind>_resources and get_<kind>_resource."""
    what = f"a {kind} resource"

    def create(ctx: typer.Context, file: ResourceFile, request_id: RequestId = "") -> None:
        settings = settings_of(ctx)
        made = create_from_file(
            settings,
            file,
            request(),
            f"{kind}_resource",
            what,
            request_id,
            lambda client, resource, key: getattr(client, f"create_{kind}_resource")(resource, key),
        )
        show(settings, made, view)

    def get(ctx: typer.Context, resource_id: ResourceId) -> None:
        settings = settings_of(ctx)
        found = run(settings, lambda client: getattr(client, f"get_{kind}_resource")(resource_id))
        show(settings, found, view)

    create.__doc__ = f"Register {what} ({fields}, ...)."
    get.__doc__ = f"Show {what}."
    group.command("create")(create)
    list_command(
        group,
        "list",
        f"List {kind} resources, newest first.",
        f"{kind}Resources",
        lambda client, size, token: getattr(client, f"list_{kind}_resources")(size, token),
        lambda response: getattr(response, f"{kind}_resources"),
        table,
    )
    group.command("get")(get)


_resource_commands(
    compute,
    "compute",
    "host, loginUser, batchSystem, hostKey",
    resource_pb2.CreateComputeResourceRequest,
    _render_objects.compute_view,
    _render_objects.compute_list,
)
_resource_commands(
    storage,
    "storage",
    "host, loginUser, rootPath, hostKey",
    resource_pb2.CreateStorageResourceRequest,
    _render_objects.storage_view,
    _render_objects.storage_list,
)


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
    show(settings, made, _render_objects.credential_view)


list_command(
    credentials,
    "list",
    "List credentials, newest first: names and fingerprints.",
    "credentials",
    lambda client, size, token: client.list_credentials(size, token),
    lambda response: _without_keys(response.credentials),
    _render_objects.credential_list,
)


@credentials.command("get")
def credential_get(ctx: typer.Context, credential_id: CredentialId) -> None:
    """Show a credential: fingerprint and public key."""
    settings = settings_of(ctx)
    found = run(settings, lambda client: client.get_credential(credential_id))
    found.ClearField("private_key")
    show(settings, found, _render_objects.credential_view)

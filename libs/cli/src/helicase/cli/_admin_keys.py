"""`helicase admin rotate-credential-key`: re-seal every stored SSH credential under the newest
key of the api's HELICASE_CREDENTIAL_KEY (ResourceService.RotateCredentialKey), after which an
older key can be removed from the setting (docs/operations.md, "Rotating the credential
key")."""

from __future__ import annotations

import typer

from helicase.cli import _render
from helicase.cli._base import Output, out, print_json, run, settings_of

ROTATE_TIMEOUT = 600.0  # it goes in pages: it may take minutes


def rotate_credential_key(ctx: typer.Context) -> None:
    """Re-seal every credential under the api's newest credential key (platform admin)."""
    settings = settings_of(ctx)
    timeout = max(settings.timeout, ROTATE_TIMEOUT)
    done = run(settings, lambda client: client.rotate_credential_key(within=timeout))
    if settings.output is Output.json:
        print_json(_render.to_json(done))
        return
    out.print(
        f"key {done.key_id}: {done.resealed_count} credentials re-sealed,"
        f" {done.current_count} already under it, {done.unreadable_count} sealed with a key"
        " that is not configured",
        markup=False,
    )
    if done.unreadable_count:
        out.print("keep the older keys until those open (or remove those credentials)")

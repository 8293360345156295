"""The local suite's secrets file, <home>/secrets.env (mode 0600, `NAME=value` lines): the key
sealing SSH credentials, the platform admin's token and the
`demo` tenant's admin token. Each value is generated once and kept; a value added later (a new
kind of secret, a replaced token) is written beside the others."""

from __future__ import annotations

import base64
import os
import secrets as _secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from helicase.devstack._supervisor import ServiceSpec

SECRETS_FILE = "secrets.env"
CREDENTIAL_KEY = "HELICASE_CREDENTIAL_KEY"
ADMIN_TOKEN = "HELICASE_ADMIN_TOKEN"
TOKEN = "HELICASE_TOKEN"

GENERATED: dict[str, Callable[[], str]] = {
    CREDENTIAL_KEY: lambda: "k1:" + base64.b64encode(os.urandom(32)).decode(),  # id:key
    ADMIN_TOKEN: lambda: _secrets.token_urlsafe(32),
}
"""The secrets the suite makes itself (HELICASE_TOKEN is issued by the api: helicase.devstack.
_tokens)."""

API_ONLY = (CREDENTIAL_KEY, ADMIN_TOKEN)
"""What only the api gets (the other services identify themselves by their certificates:
helicase.devstack.pki)."""


def read(home: Path) -> dict[str, str]:
    path = home / SECRETS_FILE
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip():
                values[name.strip()] = value.strip()
    return values


def write(home: Path, values: Mapping[str, str]) -> None:
    """Replaces <home>/secrets.env with `values`, atomically, mode 0600 from the start."""
    path = home / SECRETS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{name}={value}\n" for name, value in values.items()))
    os.replace(tmp, path)


def ensure(home: Path) -> dict[str, str]:
    """Every generated secret of the suite in `home`, made the first time each is needed."""
    values = read(home)
    missing = {name: make() for name, make in GENERATED.items() if not values.get(name)}
    if missing:
        values.update(missing)
        write(home, values)
    return values


def store(home: Path, name: str, value: str) -> None:
    """Sets one secret, keeping the others."""
    write(home, {**read(home), name: value})


def suite_tokens(env: Mapping[str, str]) -> dict[str, str]:
    """The admin token of a suite the harness or the chaos driver starts: the one `env` sets,
    else one made afresh."""
    return {ADMIN_TOKEN: env.get(ADMIN_TOKEN) or GENERATED[ADMIN_TOKEN]()}


def give(specs: Sequence[ServiceSpec], shared: Mapping[str, str]) -> list[ServiceSpec]:
    """`specs` with their secrets: the api gets the credential key and the admin token; no
    other service gets any."""
    out = []
    for spec in specs:
        names = API_ONLY if spec.module == "helicase.api" else ()
        given = {name: shared[name] for name in names if name in shared}
        out.append(replace(spec, env={**spec.env, **given}))
    return out

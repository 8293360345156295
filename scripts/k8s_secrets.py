"""Writes the Secret values of the dev overlay, `deploy/k8s/overlays/dev/secrets.env`, fresh and
random (mode 0600, never committed: .gitignore), unless the file is there already; its
secretGenerator reads it. The prod overlay takes a Secret made from your secret manager instead
(docs/kubernetes.md, "Secrets").

    uv run python scripts/k8s_secrets.py [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "deploy/k8s/overlays/dev/secrets.env"
USER = DATABASE = "helicase"


def values() -> dict[str, str]:
    password = secrets.token_urlsafe(24)
    return {
        "HELICASE_DATABASE_URL": f"postgresql://{USER}:{password}@postgres:5432/{DATABASE}",
        "HELICASE_CREDENTIAL_KEY": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "HELICASE_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "POSTGRES_USER": USER,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_DB": DATABASE,
    }


def write(path: Path, *, force: bool = False) -> bool:
    """Writes fresh values to `path` (0600); False when it existed and `force` is not set."""
    if path.exists() and not force:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{name}={value}\n" for name, value in values().items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args()
    if write(args.out, force=args.force):
        print(f"wrote {args.out} (mode 0600; keep it out of version control)")
    else:
        print(f"{args.out} exists; kept (--force replaces it)")


if __name__ == "__main__":
    main()

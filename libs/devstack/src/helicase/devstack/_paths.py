"""Where the local suite keeps its files."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout holding deploy/local (found from this file, then from the working dir)."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local").is_dir() and (candidate / "Makefile").exists():
                return candidate
    raise FileNotFoundError("cannot find the Helicase checkout (deploy/local)")


def home() -> Path:
    """State directory of the local suite: HELICASE_HOME or <repo>/.helicase."""
    override = os.environ.get("HELICASE_HOME")
    return Path(override).resolve() if override else repo_root() / ".helicase"


def jar_dir(component: str) -> Path:
    """Jars resolved by scripts/bootstrap.sh (shared by every home)."""
    path = repo_root() / ".helicase" / "lib" / component
    if not any(path.glob("*.jar")):
        raise FileNotFoundError(f"{path} has no jars: run `make install` first")
    return path

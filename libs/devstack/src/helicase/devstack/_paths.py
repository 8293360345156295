"""Where the local suite finds its configuration and jars, and keeps its state."""

from __future__ import annotations

from pathlib import Path

from helicase.devstack.settings import HOME


def repo_root() -> Path:
    """The checkout holding deploy/local (found from this file, then from the working dir)."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local").is_dir() and (candidate / "Makefile").exists():
                return candidate
    raise FileNotFoundError("cannot find the Helicase checkout (a directory with deploy/local)")


def deploy_dir() -> Path:
    """deploy/local: the poms and the logging configuration of ZooKeeper and Kafka."""
    return repo_root() / "deploy" / "local"


def home() -> Path:
    """State of the local suite (`make up`): $HELICASE_HOME, else <repo>/.helicase."""
    override = HOME.read()
    return Path(override).resolve() if override else repo_root() / ".helicase"


def jar_dir(component: str) -> Path:
    """The jars scripts/bootstrap.sh resolved for `component`, shared by every home."""
    path = repo_root() / ".helicase" / "lib" / component
    if not any(path.glob("*.jar")):
        raise FileNotFoundError(f"{path} has no jars: run `make install`")
    return path

"""What ZooKeeper, Kafka and PostgreSQL have in common: one detached process under a home."""

from __future__ import annotations

import shutil
from pathlib import Path

from helicase.devstack import _proc


class Component(_proc.RunFiles):
    """One infrastructure process: pid file in <home>/run, log in <home>/logs."""

    name: str = "component"

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port

    @property
    def address(self) -> str:
        return f"{_proc.LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The pid of the running process, or None."""
        return _proc.read_pid(self.pidfile)

    def running(self) -> bool:
        return self.pid is not None

    def ready(self) -> bool:
        """Whether it answers right now (a failure to connect counts as not ready)."""
        try:
            return self._probe()
        except Exception:
            return False

    def start(self) -> None:
        """Starts the process detached (it outlives this object); returns at once."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stops it gracefully, SIGKILL after a grace period; returns once it is gone."""
        raise NotImplementedError

    def _probe(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Waits until it answers; raises TimeoutError with the end of its log otherwise."""

        def check() -> bool:
            if not self.running():
                raise _proc.ProcessExited(f"{self.name} exited")
            return self._probe()

        try:
            _proc.wait_for(check, timeout=timeout, what=f"{self.name} on {self.address}")
        except (TimeoutError, _proc.ProcessExited) as exc:
            raise TimeoutError(f"{exc}\n--- {self.log} ---\n{_proc.tail(self.log)}") from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(home={str(self.home)!r}, port={self.port})"


def java() -> str:
    """The `java` executable (bootstrap.sh installs it when missing)."""
    found = shutil.which("java")
    if found is None:
        raise FileNotFoundError("java is missing: run `make install`")
    return found

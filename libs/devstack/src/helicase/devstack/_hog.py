"""Load beside a suite, the way a busy production host adds it: processes that burn CPU and one
that writes and fsyncs a file in a loop (slowing every other fsync on that disk, ZooKeeper's
transaction log among them). Each process stops by itself after `max_seconds`; `stop()` (or
leaving the `with` block) kills them sooner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

_BURN = """
import time
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    sum(i * i for i in range(10_000))
"""

_FSYNC = """
import os, time
end = time.monotonic() + {seconds}
path = {path!r}
block = os.urandom(256 * 1024)
with open(path, "wb") as f:
    while time.monotonic() < end:
        f.write(block)
        f.flush()
        os.fsync(f.fileno())
        if f.tell() > 64 * 1024 * 1024:
            f.seek(0)
            f.truncate()
os.unlink(path)
"""


class LoadHog:
    """`cpus` CPU burners and (if `directory` is given) one fsync writer there."""

    def __init__(
        self, *, cpus: int | None = None, directory: Path | None = None, max_seconds: float = 900
    ) -> None:
        self.cpus = (os.cpu_count() or 1) if cpus is None else cpus
        self.directory = directory
        self.max_seconds = max_seconds
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        scripts = [_BURN.format(seconds=self.max_seconds)] * self.cpus
        if self.directory is not None:
            path = str(self.directory / f"hog-{os.getpid()}.bin")
            scripts.append(_FSYNC.format(seconds=self.max_seconds, path=path))
        for script in scripts:
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", script],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=10)

    def __enter__(self) -> LoadHog:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

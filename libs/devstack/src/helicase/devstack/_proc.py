"""Starting, finding and stopping the processes of the local suite."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child is not alive for our purposes.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    pidfile: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Starts `argv` detached in its own session; output to `log`; pid written to `pidfile`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signals the process group `pid` leads (each spawned process leads its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop(pid: int, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL it."""
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            break
        time.sleep(0.05)
    signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_pidfile(pidfile: Path, *, grace: float = 10.0) -> bool:
    """Stops the process named by `pidfile` (if alive) and removes the file."""
    pid = read_pid(pidfile)
    stopped = False
    if pid is not None and alive(pid):
        stop(pid, grace=grace)
        stopped = True
    pidfile.unlink(missing_ok=True)
    return stopped


def wait_for(check: object, *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Polls `check()` until it returns true, or raises TimeoutError naming `what`."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # the check's own failures mean "not yet"
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s" + (f": {last}" if last else ""))


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"

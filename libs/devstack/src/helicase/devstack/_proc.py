"""Starting, finding and stopping the detached processes of the local suite.

Every process is started in its own session (so it leads its own process group and survives the
shell that ran `make up`) and carries HELICASE_DEVSTACK_HOME in its environment, which lets
`down` find anything of ours that a pid file lost track of. A pid file holds the pid and the
process's start time, so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
HOME_MARKER = "HELICASE_DEVSTACK_HOME"


class ProcessExited(Exception):
    """A process we wait for has exited, so waiting longer is pointless."""


_handed_out: set[int] = set()
# Under pytest-xdist (`make test` runs two workers) each worker takes its ports from a block of
# its own below the kernel's ephemeral range (32768 up), so no two workers hand out the same
# port, and no client's ephemeral port takes one between its choice and its bind (the blocks
# start above the local suite's fixed ports: 8080, 9101-9107).
PORT_BLOCKS_START = 10_000
PORT_BLOCK = 5_500


class RunFiles:
    """Where a detached process under `home` keeps its pid file and its log."""

    name: str
    home: Path

    @property
    def pidfile(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"


def worker_ports(worker: str | None = None) -> range | None:
    """The ports of pytest-xdist's worker `worker` ("gw0", "gw1", ...; by default this
    process's, from PYTEST_XDIST_WORKER), or None outside a worker."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "") if worker is None else worker
    if not (name.startswith("gw") and name[2:].isdigit()):
        return None
    start = PORT_BLOCKS_START + int(name[2:]) * PORT_BLOCK
    if start + PORT_BLOCK > 32_768:
        raise RuntimeError(f"no block of ports for pytest-xdist worker {name}: use fewer workers")
    return range(start, start + PORT_BLOCK)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now and that this process has not handed out
    before (the kernel may offer a just-closed port again, and a suite picks all its ports
    before any of its services binds one); in a pytest-xdist worker, from its own block."""
    block = worker_ports()
    for _ in range(100 * PORT_BLOCK):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if block is None:
                sock.bind((LOOPBACK, 0))
            else:
                try:
                    sock.bind((LOOPBACK, random.choice(block)))
                except OSError:
                    continue  # taken: another
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port left in {block}")


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None when it does not exist)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie counts as gone (and is reaped if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def spawn(
    argv: Sequence[str],
    *,
    home: Path,
    log: Path,
    pidfile: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Starts `argv` detached in its own session, output appended to `log`; writes `pidfile`.

    `user` runs it as that account (with its primary group and no supplementary groups), which is
    how PostgreSQL runs when we are root.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**(os.environ if env is None else env), HOME_MARKER: str(home)}
    account = pwd.getpwnam(user) if user is not None else None
    with log.open("ab") as out:
        if account is not None:
            os.chown(log, account.pw_uid, account.pw_gid)
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
    write_pidfile(pidfile, proc.pid)
    return proc.pid


def write_pidfile(pidfile: Path, pid: int) -> None:
    pidfile.write_text(f"{pid} {start_time(pid) or 0}\n")


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in `pidfile` if that very process still runs, else None."""
    try:
        pid_text, _, started = pidfile.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    if not alive(pid):
        return None
    if started and started != "0" and str(start_time(pid)) != started:
        return None  # the pid was recycled by an unrelated process
    return pid


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signals the process group `pid` leads (each spawned process leads its own), and `pid`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop(
    pid: int,
    *,
    grace: float = 10.0,
    first: signal.Signals = signal.SIGTERM,
    whole_group: bool = True,
) -> None:
    """Sends `first` (to the group, or to `pid` alone), waits up to `grace` s, then SIGKILLs the
    group. Returns once `pid` is gone."""
    if whole_group:
        signal_group(pid, first)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, first)
    _wait_gone(pid, grace)
    # Also reaches children that outlived their leader.
    signal_group(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)


def stop_pidfile(
    pidfile: Path,
    *,
    grace: float = 10.0,
    first: signal.Signals = signal.SIGTERM,
    whole_group: bool = True,
) -> bool:
    """Stops the process recorded in `pidfile` (if it runs) and removes the file; returns whether
    there was a process to stop."""
    pid = read_pid(pidfile)
    if pid is not None:
        stop(pid, grace=grace, first=first, whole_group=whole_group)
    pidfile.unlink(missing_ok=True)
    return pid is not None


def processes_of(home: Path) -> list[int]:
    """Pids of live processes that belong to the suite in `home`: those carrying its marker in
    their environment, or naming a path inside `home` (other than the shared jars) as an
    argument. Our own process and its ancestors are never included."""
    home_text = str(home)
    marker = f"{HOME_MARKER}={home_text}".encode()
    prefix = home_text.rstrip("/") + "/"
    shared = (prefix + "lib/", prefix + "bin/")
    exclude = set(_ancestors())
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        pid = int(entry.name)
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        by_path = any(a.startswith(prefix) and not a.startswith(shared) for a in argv)
        if (marker in environ or by_path) and alive(pid):
            found.append(pid)
    return found


def descendants(pid: int) -> list[int]:
    """Pids of the live processes below `pid` (children, their children, ...), by parent pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _ancestors() -> Iterator[int]:
    pid = os.getpid()
    while pid > 1:
        yield pid
        fields = _stat_fields(pid)
        if fields is None:
            return
        pid = int(fields[1])


def wait_for(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Polls `check()` until it returns true, or raises TimeoutError naming `what`. Exceptions
    from `check` mean "not yet", except ProcessExited, which is raised at once."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            if check():
                return
        except ProcessExited:
            raise
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s" + (f" ({last})" if last else ""))


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"

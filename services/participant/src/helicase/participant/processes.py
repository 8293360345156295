"""Starting a task's processes: the one place that decides their environment, user and directory.

A task process gets an allow-listed environment (`INHERITED`, `INHERITED_PREFIXES`) plus what
its task type declares (e.g. the `env` param of `shell`) and the run's ids — never the rest of the
participant's environment, which holds its secrets (database URLs, its certificate and key
paths, whatever the platform injects). When the participant runs as root, the process runs as
the task user (HELICASE_PARTICIPANT_TASK_USER, `nobody` by default) with that user's groups
only, in a fresh working directory the user owns; HOME and TMPDIR point there. The directory is
removed, and any process left in the group killed, when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass

INHERITED = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME")
"""Variables a task process inherits from the participant, when set there."""
INHERITED_PREFIXES = ("LC_",)
"""Prefixes of inherited variables (the locale's LC_ALL, LC_CTYPE, ...)."""
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
"""PATH of a task process when the participant has none."""


PR_SET_DUMPABLE = 4  # linux/prctl.h


class TaskUserError(ValueError):
    """The configured task user does not exist on this host."""


@dataclass(frozen=True, kw_only=True)
class TaskUser:
    """The unprivileged account task processes run as when the participant is root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    setpriv: str
    """util-linux's setpriv, which becomes the user between exec and the task's program."""


def task_user(name: str, *, euid: int | None = None) -> TaskUser | None:
    """The account task processes drop to: `name` (with its primary group and its groups) when
    the participant runs as root (`euid` 0), None otherwise (they run as the participant does).
    Raises TaskUserError when a root participant's `name` is unknown or is root itself."""
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise TaskUserError(f"task user {name!r} does not exist") from None
    if entry.pw_uid == 0:
        raise TaskUserError(f"task user {name!r} is root: tasks must not run as root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise TaskUserError(f"setpriv (util-linux) is needed to run tasks as {name!r}")
    groups = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != 0)
    return TaskUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups, setpriv=setpriv)


def task_env(
    declared: Mapping[str, str],
    *,
    inherited: Mapping[str, str],
    user: TaskUser | None = None,
    workdir: str | None = None,
) -> dict[str, str]:
    """The environment of a task process (pure): the allow-listed part of `inherited`, then
    `declared` (the task type's and the run's own variables). Running as `user`, its name is
    USER/LOGNAME and `workdir` is HOME and TMPDIR: the participant's would not be theirs."""
    env = {
        name: value
        for name, value in inherited.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    env.setdefault("PATH", DEFAULT_PATH)
    if user is not None:
        env.update(USER=user.name, LOGNAME=user.name)
        if workdir is not None:
            env.update(HOME=workdir, TMPDIR=workdir)
    env.update(declared)
    return env


def as_user(argv: Sequence[str], user: TaskUser | None) -> list[str]:
    """`argv` run as `user` (pure): through setpriv, which sets the groups, gid and uid and
    forbids regaining privileges (no_new_privs: setuid programs do not elevate). Not subprocess's
    user/group arguments: those make it fork() instead of vfork(), and a fork() of the
    participant runs gRPC's fork handlers in the child, which crash it now and then."""
    if user is None:
        return list(argv)
    groups = ",".join(map(str, user.groups))
    return [
        user.setpriv,
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        f"--groups={groups}" if groups else "--clear-groups",
        "--no-new-privs",
        "--",
        *argv,
    ]


@contextlib.contextmanager
def _workdir(user: TaskUser | None) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="helicase-task-")
    try:
        if user is not None:
            os.chown(path, user.uid, user.gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process's whole group, SIGKILL it after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


@contextlib.asynccontextmanager
async def task_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    user: TaskUser | None,
    stdin: int | None = asyncio.subprocess.DEVNULL,
    stdout: int | None = asyncio.subprocess.PIPE,
    stderr: int | None = asyncio.subprocess.PIPE,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Starts `argv` as a task process, in a session (process group) of its own: environment
    from `task_env(env)`, running as `user`, in a fresh working directory. On leaving, whatever
    still runs in the group is killed and the directory removed."""
    with _workdir(user) as workdir:
        proc = await asyncio.create_subprocess_exec(
            *as_user(argv, user),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=task_env(env, inherited=os.environ, user=user, workdir=workdir),
            cwd=workdir,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group
            if proc.returncode is None:
                await proc.wait()


def keep_environment_private() -> None:
    """Makes the participant non-dumpable: its /proc/<pid>/environ (and memory) then belongs to
    root, so a task process running as the participant's own user (a non-root participant)
    cannot read the participant's secrets there. Linux only; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)

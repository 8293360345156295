"""The invariants around the fuzzing: every process of the suite still runs (the same process:
no exit, no restart), and how much memory each one holds (resident set size, from /proc)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from helicase.devstack.testing import RunningSuite

MEMORY_WATCHED = ("api", "sink", "scheduler", "controller")
"""Services whose RSS is compared before and after (by name prefix: controller-a...)."""


def pids(suite: RunningSuite) -> dict[str, int | None]:
    """The pid of each service of the suite (None: not running)."""
    return {name: suite.supervisor.pid(name) for name in suite.specs}


def exits(before: Mapping[str, int | None], after: Mapping[str, int | None]) -> list[str]:
    """The services that ran before and no longer run as the same process."""
    return [
        f"{name} (pid {pid} -> {after.get(name)})"
        for name, pid in before.items()
        if pid is not None and after.get(name) != pid
    ]


def rss_kib(pid: int | None) -> int | None:
    """The resident set size of `pid` in KiB (None: it does not run)."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def rss(suite: RunningSuite, names: Iterable[str] = MEMORY_WATCHED) -> dict[str, int | None]:
    """RSS (KiB) of each service whose name starts with one of `names`."""
    prefixes = tuple(names)
    return {name: rss_kib(pid) for name, pid in pids(suite).items() if name.startswith(prefixes)}


def growth(before: Mapping[str, int | None], after: Mapping[str, int | None]) -> list[str]:
    """One line per service: RSS before -> after (MiB) and the growth."""
    lines = []
    for name in sorted(before):
        old, new = before[name], after.get(name)
        if old is None or new is None:
            lines.append(f"{name:<14} {old} -> {new} KiB (not running)")
            continue
        lines.append(
            f"{name:<14} {old / 1024:7.1f} -> {new / 1024:7.1f} MiB "
            f"({(new - old) / 1024:+.1f} MiB, {100 * (new - old) / old:+.0f}%)"
        )
    return lines

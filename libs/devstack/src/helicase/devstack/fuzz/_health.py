"""The invariants around the fuzzing: every process of the suite still runs (the same process:
no exit, no restart), and how much memory each one holds (resident set size, from /proc)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
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


LEVEL_BATCHES = 8
"""Fewer batches than this say nothing of a trend: memory is not judged."""
LEVEL_RATIO = 1.25
LEVEL_SLACK_KIB = 64 * 1024
"""Memory levels off when the median RSS of the last quarter of the batches is at most
LEVEL_RATIO times that of the second quarter plus LEVEL_SLACK_KIB. The first quarter is left
out (caches and Kafka's fetch buffers fill then), and medians, not peaks: the api holds
requests of up to 16 MiB, 16 at a time, glibc returns freed memory late, and Kafka's consumers
buffer up to 64 MiB of fetched messages, so one batch's RSS swings by hundreds of MiB without
growing (the api's between 216 and 746 MiB in one 100,000-request run: medians 362 -> 437 MiB,
which a bare 64 MiB slack flagged). The rule catches growth beyond those swings only: the
scheduler's leak of 7 MiB a batch (69 -> 202 MiB over 20 batches, medians 118 -> 188) passes it;
that one was found by reading."""


def unlevelled(per_batch: Sequence[Mapping[str, int | None]]) -> list[str]:
    """The services whose memory did not level off over the batches (LEVEL_RATIO), each with
    its two medians; [] when there are fewer than LEVEL_BATCHES batches."""
    if len(per_batch) < LEVEL_BATCHES:
        return []
    quarter = len(per_batch) // 4
    second, last = per_batch[quarter : 2 * quarter], per_batch[-quarter:]
    grown = []
    for name in sorted(per_batch[0]):
        early = [v for batch in second if (v := batch.get(name)) is not None]
        late = [v for batch in last if (v := batch.get(name)) is not None]
        if not early or not late:
            continue
        before, after = statistics.median(early), statistics.median(late)
        if after > before * LEVEL_RATIO + LEVEL_SLACK_KIB:
            grown.append(f"{name}: median {before / 1024:.0f} -> {after / 1024:.0f} MiB")
    return grown

"""Resident memory of every process of a soak's suite, read from /proc: ZooKeeper, Kafka,
PostgreSQL (the postmaster and all its backends and workers, summed) and each service by its
supervised name. A process alone counts its RSS; a tree (PostgreSQL) the sum of its processes'
PSS (proportional set size), so the shared buffers every backend maps count once, not once per
backend. Each sample also keeps the pid seen per process, so a death or a restart during
the run shows (helicase.devstack._soak_model.deaths)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from helicase.devstack._infra import Infra
from helicase.devstack._soak_model import Flatness, RssSummary, summarize
from helicase.devstack.testing import RunningSuite

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 2**20

Processes = Callable[[], Mapping[str, tuple[int | None, bool]]]
"""name -> (pid or None when not running, whether its descendants count with it)."""


def rss(pid: int) -> int | None:
    """Resident bytes of `pid` (/proc/<pid>/statm), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * PAGE


def pss(pid: int) -> int | None:
    """Proportional resident bytes of `pid` (/proc/<pid>/smaps_rollup), else its RSS."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss(pid)


def parents() -> dict[int, int]:
    """pid -> parent pid of every live process."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int, parent_of: Mapping[int, int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def suite_processes(suite: RunningSuite, infra: Infra) -> Processes:
    """The processes of `suite` and its infrastructure, looked up again at every sample."""

    def processes() -> dict[str, tuple[int | None, bool]]:
        found: dict[str, tuple[int | None, bool]] = {
            "zookeeper": (infra.zookeeper.pid, False),
            "kafka": (infra.kafka.pid, False),
            "postgres": (infra.postgres.pid, True),
        }
        for name in suite.specs:
            found[name] = (suite.supervisor.pid(name), False)
        return found

    return processes


@dataclass(frozen=True)
class Sample:
    t: float
    """Seconds since the soak began."""
    rss_mb: dict[str, float]
    pids: dict[str, int | None]


def take(processes: Processes, t: float) -> Sample:
    table = processes()
    parent_of = parents() if any(tree for _, tree in table.values()) else {}
    rss_mb: dict[str, float] = {}
    pids: dict[str, int | None] = {}
    for name, (pid, tree) in table.items():
        measure = pss if tree else rss
        own = measure(pid) if pid is not None else None
        pids[name] = pid if own is not None else None
        if pid is None or own is None:
            continue
        extra = [measure(child) or 0 for child in descendants(pid, parent_of)] if tree else []
        rss_mb[name] = round((own + sum(extra)) / MB, 1)
    return Sample(t=round(t, 1), rss_mb=rss_mb, pids=pids)


def summaries(samples: list[Sample], *, warmup_s: float, flatness: Flatness) -> list[RssSummary]:
    names = list(dict.fromkeys(name for s in samples for name in s.rss_mb))
    rows = (
        summarize(
            name,
            [(s.t, s.rss_mb[name]) for s in samples if name in s.rss_mb],
            warmup_s=warmup_s,
            flatness=flatness,
        )
        for name in names
    )
    return [row for row in rows if row is not None]


def write(out: Path, samples: list[Sample], rows: list[RssSummary], extra: dict[str, Any]) -> None:
    """rss.csv (one line per sample and process) and soak.json (samples, summary, report)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rss.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "process", "pid", "rss_mb"])
        for s in samples:
            for name, mb in s.rss_mb.items():
                writer.writerow([s.t, name, s.pids.get(name), mb])
    document = {
        **extra,
        "rss_summary": [asdict(row) for row in rows],
        "rss_samples": [asdict(s) for s in samples],
    }
    (out / "soak.json").write_text(json.dumps(document, indent=2, default=str) + "\n")

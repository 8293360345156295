"""CPU and resident memory of a system's processes, per role, over labelled stretches of a run.

A background thread samples every `interval` seconds; `begin(label)` and `end(label)` take a
sample at once, so a stretch's CPU seconds are exact (the counters are cumulative) while its peak
RSS is the highest sum of the role's processes seen at a sample. A role is a set of pids found by a
callable (re-evaluated at each sample, so restarted or late processes are picked up); each pid
counts with its children (PostgreSQL's backends, a participant's shell tasks) unless a child is
named by a role of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

Roles = Callable[[], Mapping[str, Sequence[int]]]


@dataclass
class _Stretch:
    start_wall: float
    start_cpu: dict[str, float]
    start_rss: dict[str, float]
    rss_peak: dict[str, float] = field(default_factory=dict)
    end_rss: dict[str, float] = field(default_factory=dict)
    end_wall: float | None = None
    end_cpu: dict[str, float] | None = None


class Sampler:
    """Samples the processes of `roles()`; a context manager (starts and stops the thread)."""

    def __init__(self, roles: Roles, *, interval: float = 0.25) -> None:
        self._roles = roles
        self._interval = interval
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_seen: dict[int, float] = {}  # last CPU seconds of every pid ever seen
        self._role_of: dict[int, str] = {}
        self._open: dict[str, _Stretch] = {}
        self._done: dict[str, _Stretch] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def begin(self, label: str) -> None:
        with self._lock:
            cpu, rss = self._sample()
            self._open[label] = _Stretch(time.monotonic(), cpu, dict(rss), dict(rss))

    def end(self, label: str) -> None:
        with self._lock:
            cpu, rss = self._sample()
            stretch = self._open.pop(label)
            self._peak(stretch, rss)
            stretch.end_wall = time.monotonic()
            stretch.end_cpu = cpu
            stretch.end_rss = rss
            self._done[label] = stretch

    def results(self) -> dict[str, dict[str, dict[str, float]]]:
        """label -> role -> {cpu_s, cpu_pct (of one core), rss_peak_mb, rss_start_mb,
        rss_end_mb} for ended stretches."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for label, s in self._done.items():
            assert s.end_cpu is not None and s.end_wall is not None
            wall = max(s.end_wall - s.start_wall, 1e-9)
            out[label] = {
                role: {
                    "cpu_s": round(s.end_cpu.get(role, 0.0) - s.start_cpu.get(role, 0.0), 2),
                    "cpu_pct": round(
                        100 * (s.end_cpu.get(role, 0.0) - s.start_cpu.get(role, 0.0)) / wall, 1
                    ),
                    "rss_peak_mb": round(s.rss_peak.get(role, 0.0) / 2**20, 1),
                    "rss_start_mb": round(s.start_rss.get(role, 0.0) / 2**20, 1),
                    "rss_end_mb": round(s.end_rss.get(role, 0.0) / 2**20, 1),
                }
                for role in sorted(set(s.end_cpu) | set(s.start_cpu))
            }
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                _, rss = self._sample()
                for stretch in self._open.values():
                    self._peak(stretch, rss)

    @staticmethod
    def _peak(stretch: _Stretch, rss: Mapping[str, float]) -> None:
        for role, value in rss.items():
            stretch.rss_peak[role] = max(stretch.rss_peak.get(role, 0.0), value)

    def _sample(self) -> tuple[dict[str, float], dict[str, float]]:
        """Cumulative CPU seconds per role (dead processes keep their last figure) and the
        current RSS per role."""
        rss: dict[str, float] = {}
        roles = self._roles()
        # A pid named by a role belongs to it, even when it is another role's child (the Helix
        # harness's JVM is the parent of its controller and participants).
        named = {pid: role for role, pids in roles.items() for pid in pids}
        for role, pids in roles.items():
            rss.setdefault(role, 0.0)
            for pid in pids:
                for proc in self._tree(pid):
                    if named.get(proc.pid, role) != role:
                        continue
                    try:
                        times = proc.cpu_times()
                        memory = proc.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                    self._cpu_seen[proc.pid] = times.user + times.system
                    self._role_of[proc.pid] = role
                    rss[role] += memory
        cpu: dict[str, float] = dict.fromkeys(rss, 0.0)
        for pid, seconds in self._cpu_seen.items():
            role = self._role_of[pid]
            cpu[role] = cpu.get(role, 0.0) + seconds
        return cpu, rss

    def _tree(self, pid: int) -> list[psutil.Process]:
        proc = self._procs.get(pid)
        try:
            if proc is None or not proc.is_running():
                proc = self._procs[pid] = psutil.Process(pid)
            return [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

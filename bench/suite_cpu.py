"""CPU seconds (user + system) of each component of the local suite (`make up`), read from the
processes themselves: the services by their `-m helicase.<service>` command line, Kafka and
ZooKeeper by their Java main class, PostgreSQL by its server processes. Used by
bench/throughput.py --cpu to show where one workload's CPU went."""

from __future__ import annotations

import re

import psutil

_SERVICE = re.compile(r"-m helicase\.(\w+)")


def role_of(cmdline: list[str]) -> str | None:
    joined = " ".join(cmdline)
    if found := _SERVICE.search(joined):
        return found.group(1)
    if "java" in joined:
        if "kafka.Kafka" in joined:
            return "kafka"
        if "zookeeper" in joined.lower():
            return "zookeeper"
    if cmdline and cmdline[0].startswith("postgres"):
        return "postgres"
    return None


def snapshot() -> dict[str, float]:
    """CPU seconds so far per component (several processes of one role are summed)."""
    out: dict[str, float] = {}
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        role = role_of(proc.info["cmdline"] or [])
        times = proc.info["cpu_times"]
        if role is None or times is None:
            continue
        out[role] = out.get(role, 0.0) + times.user + times.system
    return out


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per component between two snapshots, and their total."""
    used = {role: round(after[role] - before.get(role, 0.0), 2) for role in sorted(after)}
    used = {role: seconds for role, seconds in used.items() if seconds > 0}
    return {**used, "total": round(sum(used.values()), 2)}

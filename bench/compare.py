"""`make bench`: Helicase and Apache Helix's task framework side by side, on the same ZooKeeper.

Starts its own ZooKeeper, Kafka and PostgreSQL (durable: fsync on, as `make up`) on free ports and
a Helicase suite on them (2 participants of HELICASE_PARTICIPANT_CAPACITY = --concurrency, by
default 40, Helix's own default maxConcurrentTaskPerInstance and task thread pool size), runs
the workloads (a)-(d) and the Helicase-only (e) through the public API (bench/helicase_runner.py),
stops the suite, then runs the same (a)-(d) on Helix (bench/helix: a controller and 2
participants as JVMs on the same ZooKeeper, maxConcurrentTaskPerInstance = --concurrency), and
stops everything. CPU and RSS of the controller(s) and participants (and the rest) are sampled
with psutil per workload. Prints one table with Helicase/Helix ratios and writes
bench/results/<date>.json and .png (and latest.png). Never asserts a figure.

    uv run python -m bench.compare [--quick] [--workloads a,b,c,d] [--helicase-extra e1,e2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.helicase_runner import Scales, run_all
from bench.resources import Sampler
from helicase.devstack import Infra, InfraPorts
from helicase.devstack.testing import SuiteFactory, new_home, remove_home

ROOT = Path(__file__).resolve().parent.parent
HELIX_DIR = ROOT / "bench" / "helix"
RESULTS = ROOT / "bench" / "results"
PARTICIPANTS = 2  # the devstack layout runs participant-1 and participant-2
# Tasks per participant on both systems: Helix's own default (ClusterConfig's
# DEFAULT_MAX_CONCURRENT_TASK_PER_INSTANCE and TaskConstants.DEFAULT_TASK_THREAD_POOL_SIZE, 40).
CONCURRENCY = 40

HELICASE_ROLES = {
    "controller": ("controller-a", "controller-b"),
    "participant": ("participant-1", "participant-2"),
    "api": ("api",),
    "scheduler": ("scheduler",),
    "sink": ("sink",),
}


SINGLE_TENANT = {"HELICASE_TENANT_RATE": "0"}
"""The settings of a deployment sized for one tenant's throughput: no request rate."""


def infra_roles(infra: Infra) -> dict[str, list[int]]:
    parts = {"zookeeper": infra.zookeeper, "kafka": infra.kafka, "postgres": infra.postgres}
    return {role: [pid] for role, part in parts.items() if (pid := part.pid) is not None}


def helicase_side(
    infra: Infra, scales: Scales, workloads: list[str], concurrency: int
) -> dict[str, Any]:
    factory = SuiteFactory(infra)
    try:
        suite = factory(
            # One tenant's throughput is measured: its deployment sets no request rate
            # (HELICASE_TENANT_RATE 0, as a single-tenant deployment would).
            extra_env={"HELICASE_PARTICIPANT_CAPACITY": str(concurrency), **SINGLE_TENANT},
            max_tasks=max(100_000, scales.e_tasks, scales.e_hold_tasks),
        )

        def roles() -> dict[str, list[int]]:
            out = infra_roles(infra)
            for role, names in HELICASE_ROLES.items():
                out[role] = [p for n in names if (p := suite.supervisor.pid(n)) is not None]
            return out

        with Sampler(roles) as sampler:
            result = asyncio.run(
                run_all(
                    suite.api_addr,
                    scales,
                    workloads,
                    on_begin=sampler.begin,
                    on_end=sampler.end,
                    token=suite.token,
                )
            )
        _attach(result, sampler.results())
        return {
            "system": "helicase",
            "participants": PARTICIPANTS,
            "concurrency": concurrency,
            "durable": True,
            "workloads": result,
        }
    finally:
        factory.close()


def helix_command(
    zk: str, scales: Scales, workloads: Sequence[str], concurrency: int, out: Path
) -> list[str]:
    jar = HELIX_DIR / "target" / "helix-bench.jar"
    if not jar.exists():
        raise SystemExit(f"{jar} is missing: run `make install` (scripts/bootstrap.sh builds it)")
    options = {
        "zk": zk,
        "participants": PARTICIPANTS,
        "concurrency": concurrency,
        "workloads": ",".join(workloads),
        "a-workflows": scales.a_workflows,
        "a-tasks": scales.a_tasks,
        "b-workflows": scales.b_workflows,
        "b-length": scales.b_length,
        "c-width": scales.c_width,
        "d-runs": scales.d_runs,
        "out": out,
    }
    java = shutil.which("java") or "java"
    argv = [java, "-cp", f"{jar}:{jar.parent / 'lib'}/*", "io.helicase.bench.helix.HelixBench"]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    return argv


def _follow(stream: Any, on_begin: Callable[[str], None], on_end: Callable[[str], None]) -> None:
    """Echoes the harness's stderr and brackets its workloads ("helix: workload (a) ..." starts
    one, "helix: (a) {...}" ends it)."""
    for line in stream:
        sys.stderr.write(line)
        if line.startswith("helix: workload ("):
            on_begin(line.split("(", 1)[1].split(")", 1)[0])
        elif line.startswith("helix: ("):
            on_end(line.split("(", 1)[1].split(")", 1)[0])


def helix_side(
    infra: Infra, scales: Scales, workloads: list[str], concurrency: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="helix-bench-") as tmp:
        out = Path(tmp) / "helix.json"
        argv = helix_command(infra.zookeeper.connect, scales, workloads, concurrency, out)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            harness = psutil.Process(proc.pid)

            def roles() -> dict[str, list[int]]:
                found = infra_roles(infra)
                found = {"zookeeper": found.get("zookeeper", [])}
                found["controller"], found["participant"] = [], []
                found["driver"] = [proc.pid]
                try:
                    children = harness.children()
                except psutil.NoSuchProcess:
                    children = []
                for child in children:
                    try:
                        cmdline = child.cmdline()
                    except psutil.NoSuchProcess:
                        continue
                    for role in ("controller", "participant"):
                        if role in cmdline:
                            found[role].append(child.pid)
                return found

            with Sampler(roles) as sampler:
                assert proc.stderr is not None
                follower = threading.Thread(
                    target=_follow, args=(proc.stderr, sampler.begin, sampler.end), daemon=True
                )
                follower.start()
                code = proc.wait()
                follower.join(timeout=10)
            if code != 0:
                raise RuntimeError(f"the Helix harness exited with {code}")
            result: dict[str, Any] = json.loads(out.read_text())
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    _attach(result["workloads"], sampler.results())
    return result


def _attach(workloads: dict[str, Any], usage: Mapping[str, dict[str, Any]]) -> None:
    for workload, roles in usage.items():
        if workload in workloads:
            workloads[workload]["resources"] = roles


def main() -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so everything started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", default="a,b,c,d", help="run on both systems")
    parser.add_argument(
        "--helicase-extra",
        default="e1,e2",
        help="Helicase only ('' for none): e1 = one workflow of --e-tasks tasks, e2 ="
        " --e-hold-workflows x --e-hold-tasks tasks held by the controller at once",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help="tasks run at once per participant, on both systems (default 40: Helix's own"
        " default, ClusterConfig's maxConcurrentTaskPerInstance and its task thread pool size"
        " are both 40; Helicase gets HELICASE_PARTICIPANT_CAPACITY = the same)",
    )
    parser.add_argument("--systems", default="helicase,helix")
    parser.add_argument("--out", type=Path, default=RESULTS)
    Scales.add_arguments(parser)
    args = parser.parse_args()
    scales = Scales.from_args(args)
    workloads = [w for w in args.workloads.split(",") if w]
    extra = [w for w in args.helicase_extra.split(",") if w]
    systems = args.systems.split(",")

    started = datetime.now(UTC)
    record: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
        "scales": vars(scales),
        "concurrency": args.concurrency,
        "participants": PARTICIPANTS,
    }
    home = new_home("helicase-bench-")
    infra = Infra(home, InfraPorts.free(), durable=True)
    try:
        infra.start()
        if "helicase" in systems:
            record["helicase"] = helicase_side(infra, scales, workloads + extra, args.concurrency)
        if "helix" in systems:
            record["helix"] = helix_side(infra, scales, workloads, args.concurrency)
    finally:
        try:
            infra.stop()
        finally:
            remove_home(home)
    record["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    print(report.table(record))
    extra_text = report.helicase_only(record)
    if extra_text:
        print(extra_text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{started:%Y-%m-%d}{'-quick' if args.quick else ''}"
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    report.chart(record, args.out / f"{stem}.png")
    if not args.quick:
        shutil.copyfile(args.out / f"{stem}.png", args.out / "latest.png")
    print(f"wrote {args.out / stem}.json and .png")


if __name__ == "__main__":
    main()

"""Profiles the Helicase hot path with py-spy during workload (a) (N workflows x M noop tasks).

Starts its own durable infrastructure and suite on free ports (as bench/compare.py), attaches
`py-spy record --format raw --nonblocking --gil` to every service (only samples holding the
GIL: py-spy counts a thread blocked in C, e.g. librdkafka's poll, as busy), runs the workload,
stops py-spy and prints, per service, the samples taken and the functions most often running
Python: "self" (the leaf frame) and "total" (a Helicase function anywhere in the stack).
Writes bench/results/<date>-profile.txt and the raw collapsed stacks next to it
(<date>-profile/<service>.txt, for flamegraph tools).

    uv run python -m bench.profile [--workflows 10] [--tasks 1000] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.compare import SINGLE_TENANT
from bench.helicase_runner import independent_tasks, run_plan
from helicase.client import HelicaseClient
from helicase.devstack import SERVICE_NAMES, Infra, InfraPorts
from helicase.devstack.testing import SuiteFactory, new_home, remove_home

RESULTS = Path(__file__).resolve().parent / "results"
_LINE = re.compile(r":\d+\)$")
# py-spy names a frame's file relative to its sys.path entry: ours start with a package directory.
_OURS = re.compile(r"\((?:api|controller|scheduler|participant|sink|common|client|devstack)/")


def top_frames(raw: str, limit: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, top self frames, top total frames) of py-spy's raw collapsed stacks
    ("frame;frame;...;leaf count" per line; frames "function (file:line)", lines dropped)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE.sub(")", f) for f in stack.split(";") if not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            # Our code only (the event loop and threads are everywhere), minus the entry point.
            if _OURS.search(frame) and not frame.startswith(("main (", "<module> (")):
                total[frame] += count
    return samples, own.most_common(limit), total.most_common(limit)


def _short(frame: str) -> str:
    """Drops the path prefix up to site-packages or src/ (keeps the module file)."""
    return re.sub(r"\((?:[^()]*?/(?:site-packages|src|lib/python3\.\d+)/)", "(", frame)


def summarize(name: str, raw: str, limit: int = 12) -> str:
    samples, own, total = top_frames(raw, limit)
    lines = [f"== {name}: {samples} samples"]
    if samples:
        lines.append("  self%   function")
        lines += [f"  {100 * n / samples:5.1f}   {_short(f)}" for f, n in own]
        lines.append("  total%  Helicase function")
        lines += [f"  {100 * n / samples:5.1f}   {_short(f)}" for f, n in total]
    return "\n".join(lines)


def main() -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so everything started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample threads without the GIL too (counts C waits as busy)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    stem = f"{datetime.now(UTC):%Y-%m-%d}-profile"
    raw_dir = args.out / stem
    raw_dir.mkdir(parents=True, exist_ok=True)

    home = new_home("helicase-profile-")
    infra = Infra(home, InfraPorts.free(), durable=True)
    spies: dict[str, subprocess.Popen[bytes]] = {}
    try:
        infra.start()
        factory = SuiteFactory(infra)
        try:
            suite = factory(extra_env=SINGLE_TENANT)  # one tenant's throughput, unthrottled
            for name in SERVICE_NAMES:
                pid = suite.supervisor.pid(name)
                if pid is None:
                    continue
                argv = [
                    py_spy,
                    "record",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--rate",
                    str(args.rate),
                    "-o",
                    str(raw_dir / f"{name}.txt"),
                    "--pid",
                    str(pid),
                    *([] if args.all_threads else ["--gil"]),
                ]
                spies[name] = subprocess.Popen(
                    argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )

            async def workload() -> dict[str, object]:
                async with HelicaseClient(suite.api_addr, token=suite.token, timeout=120) as client:
                    plan = independent_tasks(args.workflows, args.tasks)
                    return await run_plan(client, plan, "profile")

            result = asyncio.run(workload())
        finally:
            for spy in spies.values():
                spy.send_signal(signal.SIGINT)
            for spy in spies.values():
                try:
                    spy.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
            factory.close()
    finally:
        try:
            infra.stop()
        finally:
            remove_home(home)

    command = f"uv run python -m bench.profile --workflows {args.workflows} --tasks {args.tasks}"
    parts = [f"# {command}", f"# workload (a): {result}", ""]
    for name in spies:
        path = raw_dir / f"{name}.txt"
        parts.append(summarize(name, path.read_text() if path.exists() else ""))
        parts.append("")
    text = "\n".join(parts)
    print(text)
    (args.out / f"{stem}.txt").write_text(text)
    print(f"wrote {args.out / stem}.txt and {raw_dir}/")


if __name__ == "__main__":
    main()

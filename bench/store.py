"""Benchmark of the controller's per-commit state write against a real ZooKeeper.

One workflow of N noop tasks (a third COMPLETED, a hundred in flight); every commit changes one
task and writes the workflow, as the controller's group commit does. Before: the version 4 frame
with the definition inside, written as the store wrote it until then (one fenced transaction,
`check(EPOCH)` + `set_data`). After: `StateStore.write`, which stores the definition once and
then only the version 5 frame. Times are the median of the store write (what the controller's
`helicase_controller_commit_seconds` measures) and of encode + write.

    uv run python -m bench.store [--tasks 100000] [--commits 30] [--zookeeper host:port]

Without --zookeeper it starts a standalone ZooKeeper of devstack on a free port (the
ZooKeeper jars must be installed, as by `make install`) and stops it at the end.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kazoo.client import KazooClient

from bench.codec import mid_run, noop_run
from helicase.common import zkpaths
from helicase.common.states import TS
from helicase.controller import _codec
from helicase.controller._election import bump_epoch
from helicase.controller._store import StateStore
from helicase.controller._workflow import WorkflowRun
from helicase.devstack import ZooKeeper, free_port
from helicase.devstack.testing import chrooted_zk, new_home, remove_home


@contextmanager
def zookeeper(connect: str | None) -> Iterator[str]:
    """The connect string of the given ZooKeeper, or of one started for the run."""
    if connect:
        yield connect
        return
    home = new_home("helicase-bench-store-")
    server = ZooKeeper(home, free_port())
    try:
        server.start()
        server.wait_ready(60)
        yield server.connect
    finally:
        server.stop()
        remove_home(home)


def write_v4(zk: KazooClient, epoch: int, workflow_id: str, data: bytes) -> None:
    """The store's write of one small-enough state before the definition was stored apart."""
    path = zkpaths.workflow_state(workflow_id)
    tx = zk.transaction()
    tx.check(zkpaths.EPOCH, epoch)
    if zk.exists(path) is None:
        tx.create(path, data)
    else:
        tx.set_data(path, data)
    results = tx.commit()
    if any(isinstance(r, Exception) for r in results):
        raise RuntimeError(f"transaction failed: {results!r}")


def commits(
    run: WorkflowRun, count: int, write: Callable[[bytes], None]
) -> tuple[float, float, list[int]]:
    """Median seconds of the write and of encode + write, over `count` commits that each
    change one task; and the bytes each commit handed to the store."""
    writes, totals, sizes = [], [], []
    first = len(run.definition) // 3 + 100
    for n in range(count):
        run.task_state[first + n] = TS.TASK_STATE_ASSIGNED
        started = time.perf_counter()
        data = _codec.encode(run)
        encoded = time.perf_counter()
        write(data)
        done = time.perf_counter()
        writes.append(done - encoded)
        totals.append(done - started)
        sizes.append(len(data))
    return statistics.median(writes), statistics.median(totals), sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=30)
    parser.add_argument("--zookeeper", help="host:port of a running ZooKeeper (else one starts)")
    args = parser.parse_args()
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # not its notes on closing a session
    run = mid_run(noop_run(args.tasks))
    _codec.encode(run)  # packs the definition, as the first commit does
    with zookeeper(args.zookeeper) as connect:
        with chrooted_zk(connect, "/bench-store") as zk:
            epoch = bump_epoch(zk)
            zk.ensure_path(zkpaths.WORKFLOWS)
            write_v4(zk, epoch, "bench", _codec.encode(run))
            before, before_total, _ = commits(
                run, args.commits, lambda data: write_v4(zk, epoch, "bench", data)
            )
            before_bytes = len(zk.get(zkpaths.workflow_state("bench"))[0])
        with chrooted_zk(connect, "/bench-store") as zk:
            epoch = bump_epoch(zk)
            store = StateStore(zk)
            started = time.perf_counter()
            store.write(epoch, {"bench": _codec.encode(run)})
            first = time.perf_counter() - started
            after, after_total, _ = commits(
                run, args.commits, lambda data: store.write(epoch, {"bench": data})
            )
            after_bytes = len(zk.get(zkpaths.workflow_state("bench"))[0])
            definition_bytes = len(zk.get(zkpaths.workflow_definition("bench"))[0])
    print(f"{args.tasks} tasks, {args.commits} commits each (median)")
    print(f"{'':>34} {'bytes/commit':>12} {'write ms':>9} {'encode+write ms':>16}")
    print(
        f"{'before: v4 frame with definition':>34} {before_bytes:>12} "
        f"{before * 1e3:>9.2f} {before_total * 1e3:>16.2f}"
    )
    print(
        f"{'after: v5 frame, definition apart':>34} {after_bytes:>12} "
        f"{after * 1e3:>9.2f} {after_total * 1e3:>16.2f}"
    )
    print(f"definition written once: {definition_bytes} bytes, first commit {first * 1e3:.2f} ms")
    print(
        f"ratio before/after: bytes {before_bytes / after_bytes:.1f}x, "
        f"write {before / after:.1f}x, encode+write {before_total / after_total:.1f}x"
    )


if __name__ == "__main__":
    main()

"""Micro benchmark of the controller's state encoding, in one process (no services).

Per workflow size (noop tasks, a third COMPLETED, a hundred in flight): the bytes and encode time
of version 3 (the whole definition compressed on every commit) against version 4's per-commit
path (the definition compressed once and kept), plus version 4's first commit, which packs the
definition. Then the copy each step's `Persist` carries (`WorkflowRun.snapshot`) against that
per-commit encoding. Then the memory of tracked tasks: the RSS growth of holding N workflows of
M tasks as WorkflowRun objects (each encoded once, so its packed definition is counted), in
bytes per task.

    uv run python -m bench.codec [--sizes 1000 35000 100000] [--repeat 5]
                                 [--memory-workflows 10] [--memory-tasks 100000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from collections.abc import Callable

import psutil

from helicase.common.states import TS
from helicase.controller import _codec, _dag
from helicase.controller._workflow import WorkflowRun
from helicase.v1 import workflow_pb2


def noop_run(tasks: int, workflow_id: str = "bench") -> WorkflowRun:
    """A WorkflowRun of `tasks` independent noop tasks, as the controller builds it."""
    workflow = workflow_pb2.Workflow(
        id=workflow_id,
        tasks=[workflow_pb2.Task(id=f"task-{i:07d}", type="noop") for i in range(tasks)],
    )
    return WorkflowRun(_dag.build(workflow))


def mid_run(run: WorkflowRun) -> WorkflowRun:
    """Moves a run to mid-flight: the first third COMPLETED, the next hundred RUNNING."""
    size = len(run.definition)
    done = size // 3
    run.task_state[:done] = bytes([TS.TASK_STATE_COMPLETED]) * done
    run.final[:done] = b"\x01" * done
    for index in range(done, min(size, done + 100)):
        run.task_state[index] = TS.TASK_STATE_RUNNING
        run.attempt[index] = 1
        run.placement[index] = 1
        run.participant[index] = f"participant-{index % 8}"
    run.start_time = time.time()
    return run


def median_seconds(action: Callable[[WorkflowRun], object], run: WorkflowRun, repeat: int) -> float:
    """Median wall time of `repeat` calls of action(run)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action(run)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def encoding_rows(sizes: list[int], repeat: int) -> None:
    print(
        f"{'tasks':>8} {'definition B':>13} {'v3 bytes':>9} {'v3 ms':>7} "
        f"{'v4 bytes':>9} {'v4 1st ms':>9} {'v4 ms':>7} {'v3/v4 time':>10} {'v4 decode ms':>12}"
    )
    for tasks in sizes:
        run = mid_run(noop_run(tasks))
        v3 = _codec.encode_v3(run)
        v3_seconds = median_seconds(_codec.encode_v3, run, repeat)
        started = time.perf_counter()
        _codec.encode(run)  # the first commit packs the definition
        first_seconds = time.perf_counter() - started
        v4 = _codec.encode(run)
        v4_seconds = median_seconds(_codec.encode, run, repeat)
        started = time.perf_counter()
        _codec.decode(v4)
        decode_seconds = time.perf_counter() - started
        print(
            f"{tasks:>8} {len(run.definition.blob):>13} {len(v3):>9} {v3_seconds * 1e3:>7.2f} "
            f"{len(v4):>9} {first_seconds * 1e3:>9.2f} {v4_seconds * 1e3:>7.2f} "
            f"{v3_seconds / v4_seconds:>10.1f} {decode_seconds * 1e3:>12.1f}"
        )


def snapshot_rows(sizes: list[int], repeat: int) -> None:
    """The copy a step hands to its Persist, against the per-commit encoding (the baseline: the
    work the flusher does with it once per group commit)."""
    print(f"\n{'tasks':>8} {'snapshot us':>12} {'v4 encode us':>13} {'snapshot/encode':>16}")
    for tasks in sizes:
        run = mid_run(noop_run(tasks))
        _codec.encode(run)  # packs the definition, as the first commit does
        snapshot_seconds = median_seconds(WorkflowRun.snapshot, run, max(repeat, 25))
        encode_seconds = median_seconds(_codec.encode, run, repeat)
        print(
            f"{tasks:>8} {snapshot_seconds * 1e6:>12.1f} {encode_seconds * 1e6:>13.1f} "
            f"{snapshot_seconds / encode_seconds:>16.3f}"
        )


def memory_rows(workflows: int, tasks: int) -> None:
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    runs = []
    for n in range(workflows):
        runs.append(mid_run(noop_run(tasks, workflow_id=f"bench-{n}")))
    gc.collect()
    built = process.memory_info().rss
    packed = sum(len(_codec.packed_definition(run.definition)) for run in runs)
    gc.collect()
    encoded = process.memory_info().rss
    total = workflows * tasks
    print(f"\ntracked tasks: {workflows} workflows x {tasks} tasks = {total} tasks")
    print(
        f"  RSS growth, WorkflowRuns built: {(built - before) / 2**20:8.1f} MiB "
        f"= {(built - before) / total:6.1f} B/task"
    )
    print(
        f"  RSS growth, + packed definitions ({packed / 2**20:.1f} MiB): "
        f"{(encoded - before) / 2**20:8.1f} MiB = {(encoded - before) / total:6.1f} B/task"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    print(f"  RSS of this process: {encoded / 2**20:.1f} MiB (peak {peak:.1f} MiB)")
    del runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 35_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="encodings timed per figure")
    parser.add_argument("--memory-workflows", type=int, default=10)
    parser.add_argument("--memory-tasks", type=int, default=100_000)
    args = parser.parse_args()
    encoding_rows(args.sizes, args.repeat)
    snapshot_rows(args.sizes, args.repeat)
    if args.memory_workflows and args.memory_tasks:
        memory_rows(args.memory_workflows, args.memory_tasks)


if __name__ == "__main__":
    main()

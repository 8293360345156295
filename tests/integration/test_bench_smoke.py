"""`make bench` at tiny scale: the Apache Helix harness (bench/helix, real JVMs on the harness's
ZooKeeper) and the Helicase runner (a real suite) both produce every figure the comparison table
reads. Figures are never asserted: only that they are there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.compare import helix_command
from bench.helicase_runner import Scales, run_all
from helicase.devstack import Infra
from helicase.devstack.testing import SuiteFactory

TINY = Scales(a_workflows=2, a_tasks=20, b_workflows=2, b_length=3, c_width=20, d_runs=3,
              e_tasks=50, e_hold_workflows=1, e_hold_tasks=20)  # fmt: skip
SHARED = ["a", "b", "c", "d"]


def assert_workload_fields(result: dict[str, Any]) -> None:
    for key in ("workflows", "tasks", "elapsed_s", "tasks_per_s"):
        assert isinstance(result[key], int | float), key
    for key in ("dispatch_ms", "submit_to_completed_ms"):
        assert result[key]["n"] > 0, key
        assert isinstance(result[key]["p50"], int | float), key
        assert isinstance(result[key]["p99"], int | float), key


def assert_dependent_dispatch(workloads: dict[str, Any]) -> None:
    """Only (b) and (c) have tasks with dependencies: (b) all but each chain's first, (c) the
    fan tasks and the join."""
    expected = {
        "a": 0,
        "b": TINY.b_workflows * (TINY.b_length - 1),
        "c": TINY.c_width + 1,
        "d": 0,
    }
    for workload, n in expected.items():
        figure = workloads[workload]["dispatch_dependent_ms"]
        assert figure["n"] == n, workload
        if n:
            assert isinstance(figure["p50"], int | float), workload
            assert isinstance(figure["p99"], int | float), workload
        else:
            assert figure["p50"] is None and figure["p99"] is None, workload


@pytest.mark.timeout(300)
def test_helix_harness_reports_every_workload(infra: Infra, tmp_path: Path) -> None:
    out = tmp_path / "helix.json"
    argv = helix_command(infra.zookeeper.connect, TINY, SHARED, 2, out)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["system"] == "helix"
    assert set(result["workloads"]) == set(SHARED)
    for workload in SHARED:
        assert_workload_fields(result["workloads"][workload])
    assert result["workloads"]["c"]["tasks"] == TINY.c_width + 2
    assert_dependent_dispatch(result["workloads"])


@pytest.mark.timeout(300)
async def test_helicase_runner_reports_every_workload(make_suite: SuiteFactory) -> None:
    suite = make_suite(extra_env={"HELICASE_PARTICIPANT_CAPACITY": "2"})
    marks: list[str] = []
    result = await run_all(suite.api_addr, TINY, [*SHARED, "e1", "e2"],
                           on_begin=lambda w: marks.append(f"+{w}"),
                           on_end=lambda w: marks.append(f"-{w}"),
                           token=suite.token)  # fmt: skip
    assert marks == [m for w in [*SHARED, "e1", "e2"] for m in (f"+{w}", f"-{w}")]
    for workload in SHARED:
        assert_workload_fields(result[workload])
    assert_dependent_dispatch(result)
    assert result["e1"]["tasks"] == TINY.e_tasks
    assert result["e2"]["tasks"] == TINY.e_hold_tasks
    # The table reads every shared workload's figures.
    table = report.table({"helicase": {"workloads": result}})
    assert all(f"({w})" in table for w in SHARED)
    assert "dependent dispatch p50 ms" in table

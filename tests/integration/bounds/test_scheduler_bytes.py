"""The scheduler holds a bounded number of bytes of launches (a launch carries its whole
workflow): past HELICASE_SCHEDULER_MAX_IN_FLIGHT_BYTES it reads no more commands until some are
done, and nothing is lost. Without the bound, 1,100 launches of 7.5 MiB in flight made a
scheduler grow to 14 GiB before the kernel killed it (docs/reliability.md, "Large requests at
once")."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from typing import Any

import pytest

from helicase.client import HelicaseClient
from helicase.devstack.testing import RunningSuite, SuiteFactory
from tests.integration.helpers import request, running_task, state

BUDGET = 4 * 2**20
BIG = 6  # workflows of 2.5 MiB each: 15 MiB of launches
TASKS = 40
PAD = 64 * 1024 - 256  # a task's params, under their 64 KiB limit
GAUGE = re.compile(r"^helicase_scheduler_command_bytes (\S+)$", re.M)


def big_tasks() -> list[dict[str, Any]]:
    """Tasks whose first failure ends the workflow at once (exit 3 is fatal)."""
    params = {"command": "exit 3", "fatal_exit_codes": [3], "env": {"PAD": "x" * PAD}}
    return [{"id": f"t{i}", "type": "shell", "params": params} for i in range(TASKS)]


def held_bytes(suite: RunningSuite) -> float:
    addr = suite.specs["scheduler"].env["HELICASE_METRICS_ADDR"]
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as response:
        found = GAUGE.search(response.read().decode())
    return float(found.group(1)) if found else 0.0


@pytest.mark.timeout(240)
async def test_launches_past_the_byte_budget_wait_unread_and_all_run(
    make_suite: SuiteFactory,
) -> None:
    suite = make_suite(
        extra_env={
            "HELICASE_SCHEDULER_MAX_RUNNING": "1",  # launches wait while the blocker runs
            "HELICASE_SCHEDULER_MAX_IN_FLIGHT_BYTES": str(BUDGET),
            "HELICASE_TENANT_RATE": "0",
        }
    )
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=60) as client:
        blocker = await client.create(
            request([{"id": "s", "type": "sleep", "params": {"seconds": 12}}])
        )
        await running_task(client, blocker.id, "s")
        big = [await client.create(request(big_tasks())) for _ in range(BIG)]
        seen = []
        for _ in range(16):  # while the blocker still runs
            seen.append(held_bytes(suite))
            await asyncio.sleep(0.25)
        log = suite.supervisor.log("scheduler").read_text()
        assert "command intake paused" in log, suite.log("scheduler")
        # Handed over up to the budget and one launch past it (of 15 MiB read), then paused.
        assert 0 < max(seen) <= BUDGET + 2.6 * 2**20, seen
        ended = [await client.wait(w.id, within=120) for w in [blocker, *big]]
    assert [state(w) for w in ended] == ["COMPLETED"] + ["FAILED"] * BIG
    assert "command intake resumed" in suite.supervisor.log("scheduler").read_text()

"""The chaos driver (helicase.devstack.chaos, `make chaos` at scale) in small: a hundred
workflows of assorted shapes while a participant, a scheduler, the controller leader, the sink
and the api are each kill -9'd and restarted once; nothing may be lost or duplicated."""

from __future__ import annotations

import pytest

from helicase.devstack import Infra
from helicase.devstack.chaos import ChaosOptions, run_chaos


@pytest.mark.timeout(400)
async def test_a_hundred_workflows_survive_a_kill_of_every_service(infra: Infra) -> None:
    lines: list[str] = []
    options = ChaosOptions(
        workflows=100,
        duration=30,
        seed=11,
        kill_interval=4,
        kill_plan=["participant", "scheduler", "leader", "sink", "api"],
        infra_restarts=False,
        min_sleep=0.05,
        max_sleep=0.5,
        wait_timeout=120,
        log=lines.append,
    )
    report = await run_chaos(options, infra)
    print("\n".join(lines))
    print(report.render())
    assert report.ok, report.render()
    assert report.figures["kills_total"] == 5
    assert report.figures["workflows_in_db"] == 100

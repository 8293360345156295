"""Back-to-back leader kills under load: the leader is kill -9'd, then its successor as soon as it
holds the election lock plus 0 to 6 s (before, during and after its first commits), six times,
while every core burns and a writer fsyncs in a loop beside the suite. No task whose COMPLETED
result a controller acknowledged may start again, and nothing may be lost.

On the code before the fix this failed in its first run: a leader assigned the first task of a
workflow it had just been given and died before the commit that recorded the workflow; the next
leader did not know the workflow and acknowledged the participant's COMPLETED result as if
recorded; the scheduler's retried SubmitWorkflow then ran the task again (docs/reliability.md,
"Acknowledged, then run again")."""

from __future__ import annotations

import pytest

from helicase.devstack import Infra
from helicase.devstack.chaos import ChaosOptions, run_chaos


@pytest.mark.timeout(600)
async def test_back_to_back_leader_kills_under_load_never_rerun_an_acknowledged_task(
    infra: Infra,
) -> None:
    lines: list[str] = []
    options = ChaosOptions(
        workflows=300,
        duration=50,
        seed=5,
        kill_interval=2,
        kill_plan=[],  # nothing but the storm
        infra_restarts=False,
        leader_storm=6,
        hog=True,
        min_sleep=0.05,
        max_sleep=1.0,
        wait_timeout=180,
        log=lines.append,
    )
    report = await run_chaos(options, infra)
    print("\n".join(lines))
    print(report.render())
    assert report.ok, report.render()
    assert report.figures["ledger"]["started_after_acked_completed"] == 0
    assert report.figures["kills_total"] == 12, "six rounds of two leader kills"
    assert report.figures["workflows_in_db"] == 300

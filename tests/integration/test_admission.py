"""Admission control per tenant: a tenant at its limit waits while another tenant runs."""

from __future__ import annotations

import asyncio
from typing import Any

from helicase.client import HelicaseClient
from tests.integration.helpers import request, state


async def test_a_tenant_at_its_limit_waits_while_another_tenant_runs(make_suite: Any) -> None:
    suite = make_suite(extra_env={"HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT": "1"})
    sleep = [{"id": "s", "type": "sleep", "params": {"seconds": 3}}]
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        first = await client.create(request(sleep, labels={"tenant": "chem"}))
        second = await client.create(request(sleep, labels={"tenant": "chem"}))
        other = await client.create(request(sleep, labels={"tenant": "bio"}))
        done = await asyncio.gather(*(client.wait(w.id, within=60) for w in (first, second, other)))
    assert [state(w) for w in done] == ["COMPLETED"] * 3
    # Launches of different workflows travel on different partitions: either chem may go first.
    chem1, chem2 = sorted(done[:2], key=lambda w: w.start_time.ToDatetime())
    bio = done[2]
    assert chem2.start_time.ToDatetime() >= chem1.end_time.ToDatetime()
    assert bio.start_time.ToDatetime() < chem1.end_time.ToDatetime()

"""One caller's biggest legal request does not stall the api for the others: while tenant A's
CreateWorkflow of 100,000 tasks is checked (seconds of CPU; this one is refused at its last
task), tenant B's reads are answered as usual.

On the code before the fix, the check ran on the api's event loop: B waited for the whole check
(5 s and more on 2 cores) on its next call."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest

from helicase.client import NO_RETRY, HelicaseClient
from helicase.common.status import field_violations
from helicase.devstack.testing import RunningSuite
from tests.integration.bounds.conftest import BIG
from tests.integration.helpers import request

TASKS = BIG
WORST = 1.5  # seconds: B's slowest read while A's request is checked (idle: a few ms)


@pytest.mark.timeout(180)
async def test_a_100k_task_create_does_not_stall_another_tenants_reads(
    big_suite: RunningSuite,
) -> None:
    suite = big_suite
    tasks = [{"id": f"t{i}", "type": "noop"} for i in range(TASKS - 1)]
    tasks.append({"id": "last", "type": "no-such-type"})
    big = request(tasks)
    suffix = uuid.uuid4().hex[:8]
    async with (
        HelicaseClient(
            suite.api_addr, token=suite.issue_key(f"big-a-{suffix}", "admin"), retry=NO_RETRY
        ) as a,
        HelicaseClient(suite.api_addr, token=suite.issue_key(f"big-b-{suffix}", "admin")) as b,
    ):
        mine = await b.create(request([{"id": "t", "type": "noop"}]))
        await b.get(mine.id)  # connected and warm
        create = asyncio.create_task(a.create(big))
        slowest, reads = 0.0, 0
        while not create.done():
            started = time.perf_counter()
            await b.get(mine.id)
            slowest = max(slowest, time.perf_counter() - started)
            reads += 1
            await asyncio.sleep(0.01)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await create
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    fields = [v.field for v in field_violations(refused.value)]
    assert f"workflow.tasks[{TASKS - 1}].type" in fields, fields
    print(f"B: {reads} reads while A's request was checked, the slowest {slowest * 1000:.0f} ms")
    assert slowest < WORST, f"B waited {slowest:.2f}s for a read while A's request was checked"
    assert reads >= 5, f"A's request was answered after {reads} reads of B's: too fast to tell"

"""Fair use per tenant on a real suite with small limits (the documented settings, and
AdminService.UpdateTenantLimits): one tenant over its request rate, Watch streams, running
workflows or queued tasks gets RESOURCE_EXHAUSTED with a RetryInfo, or waits its turn, while
another tenant is served."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from helicase.client import NO_RETRY, HelicaseClient, channel
from helicase.devstack.testing import RunningSuite, SuiteFactory
from helicase.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)
from helicase.wire import retry_delay
from tests.integration.helpers import request, state
from tests.integration.test_cli import piped

LIMITS = {
    "HELICASE_TENANT_RATE": "100",  # units: a start costs 20, a listing 2, a read 1
    "HELICASE_TENANT_BURST": "100",
    "HELICASE_TENANT_MAX_STREAMS": "2",
    "HELICASE_TENANT_MAX_QUEUED_TASKS": "5",
    "HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT": "1",
}
POLL = 0.25  # waits poll at 4 calls a second, well within the rate
LONG_SLEEP = [{"id": "s", "type": "sleep", "params": {"seconds": 60}}]


@pytest.fixture(scope="module")
def limited(infra: Any) -> Iterator[RunningSuite]:
    """One suite for this module, with the small limits above; stopped at its end."""
    factory = SuiteFactory(infra)
    try:
        yield factory(extra_env=LIMITS)
    finally:
        factory.close()


def tenant() -> str:
    return f"fair-{uuid.uuid4().hex[:8]}"


def client_of(suite: RunningSuite, name: str) -> HelicaseClient:
    return HelicaseClient(suite.api_addr, token=suite.issue_key(name, "admin"), retry=NO_RETRY)


@pytest.fixture
async def platform(limited: RunningSuite) -> AsyncIterator[admin_pb2_grpc.AdminServiceStub]:
    """AdminService as the platform admin."""
    async with channel(limited.api_addr, token=limited.admin_token) as ch:
        yield admin_pb2_grpc.AdminServiceStub(ch)


def sleeps(seconds: float, count: int = 1) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "type": "sleep", "params": {"seconds": seconds}} for i in range(count)]


async def outcome(call: Any) -> grpc.aio.AioRpcError | None:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err
    return None


def assert_exhausted(err: grpc.aio.AioRpcError | None, names: str) -> None:
    assert err is not None, "the call was not refused"
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert names in (err.details() or "")
    delay = retry_delay(err)  # 0 when the api held the call for the whole wait
    assert delay is not None and delay >= 0, "no RetryInfo"


async def rate(
    suite: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub, units: int, burst: int
) -> str:
    """A new tenant with its own request rate (set through UpdateTenantLimits)."""
    name = tenant()
    suite.issue_key(name, "admin")  # the tenant exists from here on
    await platform.UpdateTenantLimits(
        admin_pb2.UpdateTenantLimitsRequest(
            tenant_limits=admin_pb2.TenantLimits(
                tenant_id=name, requests_per_second=units, request_burst=burst
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["requests_per_second", "request_burst"]),
        )
    )
    return name


async def test_a_large_request_costs_a_unit_per_64_kib_on_top_of_its_method(
    limited: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub
) -> None:
    """A 4 MiB listing (a label filter of that size, refused as invalid) costs 2 + 64 units: with
    a burst of 100 the second one is over the rate, while 4 MiB of small listings would pass."""
    name = await rate(limited, platform, 1, 100)
    big = workflow_service_pb2.ListWorkflowsRequest(page_size=1, labels={"k": "v" * (4 << 20)})
    async with client_of(limited, name) as a:
        first = await outcome(a.list_workflows(big))
        assert first is not None and first.code() == grpc.StatusCode.INVALID_ARGUMENT, first
        second = await outcome(a.list_workflows(big))
        assert_exhausted(second, "this call costs 66")
    small = await rate(limited, platform, 1, 100)
    async with client_of(limited, small) as b:
        listing = workflow_service_pb2.ListWorkflowsRequest(page_size=1)
        for _ in range(20):  # 40 of its 100 units
            await b.list_workflows(listing)


async def test_a_tenant_over_its_rate_is_refused_with_retry_info_while_another_is_served(
    limited: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub
) -> None:
    listing = workflow_service_pb2.ListWorkflowsRequest(page_size=1)
    flooding = await rate(limited, platform, 10, 10)
    async with client_of(limited, flooding) as a, client_of(limited, tenant()) as b:
        results = await asyncio.gather(*(outcome(a.list_workflows(listing)) for _ in range(40)))
        refused = [r for r in results if r is not None]
        assert len(refused) >= 20  # a burst of 5 listings, a few more earned meanwhile
        assert_exhausted(refused[0], "request rate of 10 units/s")
        # The other tenant has a bucket of its own: all of its calls succeed.
        for _ in range(5):
            await b.list_workflows(listing)
        # And the refused one is served again once it waited as told.
        await asyncio.sleep(retry_delay(refused[-1]) or 1.0)
        await a.list_workflows(listing)


async def test_a_start_costs_more_than_a_read_and_the_client_waits_as_advised(
    limited: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub
) -> None:
    async with client_of(limited, await rate(limited, platform, 1, 45)) as client:
        made = [await client.create(request(sleeps(0))) for _ in range(2)]  # 40 of 45 units
        refused = await outcome(client.create(request(sleeps(0))))
        assert_exhausted(refused, "this call costs 20")
        listing = workflow_service_pb2.ListWorkflowsRequest(page_size=1)
        for _ in range(2):
            await client.list_workflows(listing)  # 2 units each
        await client.get(made[0].id, full=False)  # the last unit
    # The client (its default RetryPolicy) waits as the RetryInfo advises, and is served.
    token = limited.issue_key(await rate(limited, platform, 20, 20), "admin")
    async with HelicaseClient(limited.api_addr, token=token) as client:
        made = [await client.create(request(sleeps(0))) for _ in range(2)]
    assert len({w.id for w in made}) == 2


async def test_watch_streams_over_the_limit_are_refused_and_freed_when_one_closes(
    limited: RunningSuite,
) -> None:
    token = limited.issue_key(tenant(), "admin")
    async with (
        HelicaseClient(limited.api_addr, token=token, retry=NO_RETRY) as client,
        channel(limited.api_addr, token=token) as ch,
    ):
        workflows = workflow_service_pb2_grpc.WorkflowServiceStub(ch)
        workflow = await client.create(request(LONG_SLEEP))
        watch = workflow_service_pb2.WatchWorkflowRequest(id=workflow.id)
        streams = [workflows.WatchWorkflow(watch) for _ in range(2)]
        try:
            for stream in streams:
                await asyncio.wait_for(stream.read(), 10)  # open: its first answer came
            third = workflows.WatchWorkflow(watch)
            assert_exhausted(await outcome(third.read()), "open streams")
            streams[0].cancel()
            # The freed slot counts as soon as the api sees the stream end.
            for _ in range(20):
                fourth = workflows.WatchWorkflow(watch)
                streams.append(fourth)
                if await outcome(fourth.read()) is None:
                    break
                await asyncio.sleep(POLL)
            else:
                pytest.fail("a closed stream did not free its slot")
        finally:
            for stream in streams:
                stream.cancel()
            await client.cancel(workflow.id)


async def test_a_tenant_at_its_running_limit_waits_queued_while_another_runs(
    limited: RunningSuite,
) -> None:
    async with client_of(limited, tenant()) as a, client_of(limited, tenant()) as b:
        first = await a.create(request(sleeps(3)))
        second = await a.create(request(sleeps(3)))
        other = await b.create(request(sleeps(3)))
        done = await asyncio.gather(
            *(a.wait(w.id, within=60, poll=POLL) for w in (first, second)),
            b.wait(other.id, within=60, poll=POLL),
        )
    assert [state(w) for w in done] == ["COMPLETED"] * 3
    # Launches of different workflows travel on different partitions: either may go first.
    a1, a2 = sorted(done[:2], key=lambda w: w.start_time.ToDatetime())
    assert a2.start_time.ToDatetime() >= a1.end_time.ToDatetime()
    assert done[2].start_time.ToDatetime() < a1.end_time.ToDatetime()


async def test_a_workflow_over_the_tenants_queued_task_quota_is_refused(
    limited: RunningSuite,
) -> None:
    async with client_of(limited, tenant()) as a, client_of(limited, tenant()) as b:
        held = await a.create(request(sleeps(60, count=3)))
        try:
            refused = await outcome(a.create(request(sleeps(1, count=3))))
            assert_exhausted(refused, "max_queued_tasks")
            listed = await a.list_workflows(workflow_service_pb2.ListWorkflowsRequest())
            assert [w.id for w in listed.workflows] == [held.id]  # nothing stored
            fits = await a.create(request(sleeps(0, count=2)))  # 3 + 2: just within
            await b.create(request(sleeps(0, count=5)))  # another tenant's own quota
        finally:
            await a.cancel(held.id)
        await a.wait(held.id, within=30, poll=POLL)
        await a.wait(fits.id, within=30, poll=POLL)
        # Finished workflows hold no quota.
        again = await a.create(request(sleeps(0, count=5)))
        assert state(await a.wait(again.id, within=30, poll=POLL)) == "COMPLETED"


def padded_sleep(seconds: float, pad: int) -> list[dict[str, Any]]:
    params = {"command": f"sleep {seconds}", "env": {"PAD": "x" * pad}}
    return [{"id": "s", "type": "shell", "params": params}]


async def test_a_workflow_over_the_tenants_queued_byte_quota_is_refused(
    limited: RunningSuite,
) -> None:
    name = tenant()
    as_platform = ("--api", limited.api_addr, "--token", limited.admin_token, "-o", "json")
    set_quota = ("admin", "tenants", "set-limits", name, "--max-queued-bytes", str(100 * 1024))
    async with client_of(limited, name) as a, client_of(limited, tenant()) as b:
        done = await asyncio.to_thread(piped, *as_platform, *set_quota)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["effectiveLimits"]["maxQueuedBytes"] == str(100 * 1024)
        held = await a.create(request(padded_sleep(60, 60 * 1024)))  # about 60 KiB stored
        try:
            refused = await outcome(a.create(request(padded_sleep(0, 60 * 1024))))
            assert_exhausted(refused, "max_queued_bytes")
            listed = await a.list_workflows(workflow_service_pb2.ListWorkflowsRequest())
            assert [w.id for w in listed.workflows] == [held.id]  # nothing stored
            small = await a.create(request(padded_sleep(0, 1024)))
            await b.create(request(padded_sleep(0, 60 * 1024)))  # another tenant's own quota
            await b.create(request(padded_sleep(0, 60 * 1024)))
        finally:
            await a.cancel(held.id)
        await a.wait(held.id, within=30, poll=POLL)
        await a.wait(small.id, within=30, poll=POLL)
        # Finished workflows hold no quota.
        again = await a.create(request(padded_sleep(0, 60 * 1024)))
        assert state(await a.wait(again.id, within=30, poll=POLL)) == "COMPLETED"


async def test_limits_set_for_a_tenant_through_admin_service_take_effect(
    limited: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub
) -> None:
    name = tenant()
    listing = workflow_service_pb2.ListWorkflowsRequest(page_size=1)
    async with client_of(limited, name) as client:
        await client.list_workflows(listing)  # its limits are read (and cached) now
        update = admin_pb2.UpdateTenantLimitsRequest(
            tenant_limits=admin_pb2.TenantLimits(
                tenant_id=name, requests_per_second=1000, request_burst=1000, max_queued_tasks=50
            ),
            update_mask=field_mask_pb2.FieldMask(
                paths=["requests_per_second", "request_burst", "max_queued_tasks"]
            ),
        )
        updated = await platform.UpdateTenantLimits(update)
        assert updated.tenant_limits.requests_per_second == 1000
        results = await asyncio.gather(
            *(outcome(client.list_workflows(listing)) for _ in range(40))
        )
        assert results == [None] * 40
        held = await client.create(request(sleeps(60, count=10)))  # over the default of 5
        await client.cancel(held.id)

        got = await platform.GetTenantLimits(admin_pb2.GetTenantLimitsRequest(tenant_id=name))
        assert got.tenant_limits.max_watch_streams == 0  # not set: the default
        assert got.effective_limits.max_watch_streams == 2
        assert got.effective_limits.max_queued_tasks == 50
        # A tenant's own admin reads its limits but may not change them.
        admin = admin_pb2_grpc.AdminServiceStub(client._channel)
        mine = await admin.GetTenantLimits(admin_pb2.GetTenantLimitsRequest())
        assert mine.effective_limits.requests_per_second == 1000
        denied = await outcome(admin.UpdateTenantLimits(update))
        assert denied is not None and denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_running_limit_set_for_a_tenant_applies_to_its_next_launches(
    limited: RunningSuite, platform: admin_pb2_grpc.AdminServiceStub
) -> None:
    name = tenant()
    update = admin_pb2.UpdateTenantLimitsRequest(
        tenant_limits=admin_pb2.TenantLimits(tenant_id=name, max_running_workflows=2),
        update_mask=field_mask_pb2.FieldMask(paths=["max_running_workflows"]),
    )
    async with client_of(limited, name) as client:  # the tenant exists from here on
        await platform.UpdateTenantLimits(update)
        made = [await client.create(request(sleeps(3))) for _ in range(2)]
        done = [await client.wait(w.id, within=60, poll=POLL) for w in made]
    assert [state(w) for w in done] == ["COMPLETED"] * 2
    # Both ran at once: the default of 1 would have run them one after the other.
    first, second = sorted(done, key=lambda w: w.start_time.ToDatetime())
    assert second.start_time.ToDatetime() < first.end_time.ToDatetime()


def test_the_cli_sets_and_shows_a_tenants_limits(limited: RunningSuite) -> None:
    name = tenant()
    key = limited.issue_key(name, "admin")
    as_platform = ("--api", limited.api_addr, "--token", limited.admin_token, "-o", "json")
    done = piped(*as_platform, "admin", "tenants", "set-limits", name, "--max-queued-tasks", "7")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tenantLimits"]["maxQueuedTasks"] == 7
    mine = ("--api", limited.api_addr, "--token", key, "-o", "json")
    shown = json.loads(piped(*mine, "admin", "tenants", "limits").stdout)
    assert shown["effectiveLimits"]["maxQueuedTasks"] == 7
    assert shown["effectiveLimits"]["maxWatchStreams"] == 2  # the suite's default
    refused = piped(*mine, "admin", "tenants", "set-limits", name, "--request-burst", "1")
    assert refused.returncode != 0 and "PERMISSION_DENIED" in refused.stderr

"""Fair use per tenant, its pure parts: token buckets, open-stream counts, limits over their
defaults (cached), the validation of UpdateTenantLimits, per-tenant admission limits."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2
from hypothesis import given
from hypothesis import strategies as st

from helicase.api.auth import principal as principals
from helicase.api.auth.principal import Role
from helicase.api.fairuse.bucket import MAX_SPREAD, StreamCounts, TenantBuckets, TokenBucket
from helicase.api.fairuse.cost import LIST, READ, START, WRITE, cost_of
from helicase.api.fairuse.interceptor import FairUseInterceptor
from helicase.api.fairuse.limits import LimitsCache, TenantLimits
from helicase.api.fairuse.validation import check_update_limits
from helicase.common.errors import InvalidArgument, ResourceExhausted
from helicase.scheduler.admission import Admission
from helicase.v1 import admin_pb2


def test_a_bucket_allows_its_burst_then_says_when_the_next_token_comes() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.75) == pytest.approx(0.25)  # half a token earned meanwhile


def test_refused_callers_are_told_to_come_back_one_token_apart_within_a_spread() -> None:
    bucket = TokenBucket.full(rate=10.0, burst=1.0, now=0.0)
    assert bucket.take(0.0) == 0.0
    waits = [bucket.take(0.0) for _ in range(4)]
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # Each comes back when told: a token is there for each, in turn.
    assert [bucket.take(t + 1e-9) for t in (0.1, 0.2, 0.3, 0.4)] == [0.0] * 4
    # A caller that ignores its RetryInfo pushes the line back, but only up to MAX_SPREAD.
    many = [bucket.take(0.4) for _ in range(1000)]
    assert max(many) == pytest.approx(MAX_SPREAD)
    # Once the line is gone, the first refused is told the next token again.
    assert bucket.take(20.0) == 0.0
    assert bucket.take(20.0) == pytest.approx(0.1)


@given(
    rate=st.integers(1, 50),
    burst=st.integers(1, 50),
    times=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=200),
)
def test_a_bucket_never_grants_more_than_burst_plus_rate_times_elapsed(
    rate: int, burst: int, times: list[float]
) -> None:
    bucket = TokenBucket.full(rate=rate, burst=burst, now=0.0)
    granted, clock = 0, 0.0
    for step in sorted(times):
        clock = max(clock, step)
        wait = bucket.take(clock)
        assert wait >= 0.0
        if wait:
            clock += wait + 1e-9
            assert bucket.take(clock) == 0.0  # a token is there when it said
        granted += 1
    assert granted <= burst + rate * clock + 1


def test_tenants_have_buckets_of_their_own_and_a_new_rate_applies_at_once() -> None:
    buckets = TenantBuckets()
    assert buckets.take("a", rate=1, burst=1, now=0.0) == 0.0
    assert buckets.take("a", rate=1, burst=1, now=0.0) > 0.0
    assert buckets.take("b", rate=1, burst=1, now=0.0) == 0.0  # b is not held up by a
    # Raised: tokens come at the new rate from the change on.
    assert buckets.take("a", rate=100, burst=1, now=0.02) == pytest.approx(0.0098)
    assert buckets.take("a", rate=100, burst=1, now=0.03) == 0.0


def test_streams_are_counted_per_tenant_up_to_the_limit_and_freed_on_close() -> None:
    streams = StreamCounts()
    assert streams.open("a", 2) and streams.open("a", 2)
    assert not streams.open("a", 2)
    assert streams.open("b", 2)
    streams.close("a")
    assert streams.open("a", 2)
    assert streams.open("a", 0)  # 0: no limit
    assert streams.count("a") == 3


def test_overrides_win_over_defaults_field_by_field() -> None:
    defaults = TenantLimits(requests_per_second=200, request_burst=400, max_queued_tasks=10)
    mine = TenantLimits(requests_per_second=5)
    assert mine.over(defaults) == TenantLimits(
        requests_per_second=5, request_burst=400, max_queued_tasks=10
    )
    updated = mine.updated(admin_pb2.TenantLimits(request_burst=7, max_queued_tasks=9), [])
    assert updated == TenantLimits(request_burst=7, max_queued_tasks=9)  # empty mask: all
    only = mine.updated(admin_pb2.TenantLimits(request_burst=7), ["request_burst"])
    assert only == TenantLimits(requests_per_second=5, request_burst=7)


async def test_the_cache_reads_a_tenant_again_after_its_ttl_or_when_forgotten() -> None:
    reads: list[str] = []
    now = [0.0]
    stored = {"a": TenantLimits(requests_per_second=1)}

    async def load(tenant: str) -> TenantLimits:
        reads.append(tenant)
        return stored.get(tenant, TenantLimits())

    cache = LimitsCache(TenantLimits(requests_per_second=9), load, ttl=5.0, clock=lambda: now[0])
    assert (await cache.of("a")).requests_per_second == 1
    assert (await cache.of("b")).requests_per_second == 9
    stored["a"] = TenantLimits(requests_per_second=2)
    assert (await cache.of("a")).requests_per_second == 1  # cached
    now[0] = 5.0
    assert (await cache.of("a")).requests_per_second == 2
    stored["a"] = TenantLimits(requests_per_second=3)
    cache.forget("a")
    assert (await cache.of("a")).requests_per_second == 3
    assert reads == ["a", "b", "a", "a"]


def test_update_limits_names_each_bad_field() -> None:
    request = admin_pb2.UpdateTenantLimitsRequest(
        tenant_limits=admin_pb2.TenantLimits(requests_per_second=-1),
        update_mask=field_mask_pb2.FieldMask(paths=["requests_per_second", "tenant_id"]),
    )
    with pytest.raises(InvalidArgument) as caught:
        check_update_limits(request)
    assert [v.field for v in caught.value.violations] == [
        "tenant_limits.tenant_id",
        "tenant_limits.requests_per_second",
        "update_mask.paths[1]",
    ]
    good = admin_pb2.UpdateTenantLimitsRequest(tenant_limits=admin_pb2.TenantLimits(tenant_id="a"))
    assert len(check_update_limits(good)) == 6


@pytest.mark.parametrize("tenant_id", ["a\x00", "a" * 64])
def test_update_limits_refuses_a_tenant_id_no_tenant_can_have(tenant_id: str) -> None:
    """A NUL reached PostgreSQL and answered UNKNOWN (found by make fuzz)."""
    request = admin_pb2.UpdateTenantLimitsRequest(
        tenant_limits=admin_pb2.TenantLimits(tenant_id=tenant_id)
    )
    with pytest.raises(InvalidArgument) as caught:
        check_update_limits(request)
    assert [v.field for v in caught.value.violations] == ["tenant_limits.tenant_id"]


def test_a_launch_carries_its_tenants_running_limit_over_the_default() -> None:
    admission = Admission(10, tenant_limit=5)
    assert admission.request("a1", "a", 1)
    assert not admission.request("a2", "a", 1)
    assert admission.request("b1", "b")  # b: the default of 5
    assert admission.request("b2", "b")
    # A launch with a raised limit lets the waiting workflow of that tenant in.
    assert not admission.request("a3", "a", 3)
    assert admission.admit_waiting() == ["a2", "a3"]
    assert admission.limit_of("a") == 3 and admission.limit_of("b") == 5


def test_launches_held_only_by_their_own_tenants_limit_are_counted_as_such() -> None:
    admission = Admission(3, tenant_limit=1)
    assert admission.request("a1", "a")
    assert not admission.request("a2", "a")
    assert not admission.request("a3", "a")
    assert admission.held_by_tenant() == 2  # a slot is free: only a's limit holds them
    assert admission.request("b1", "b")
    assert admission.request("c1", "c")
    assert not admission.request("d1", "d")  # all slots taken: held by the global limit
    assert admission.held_by_tenant() == 0


def test_a_call_costs_what_it_sets_in_motion() -> None:
    prefix = "/helicase.v1."
    assert cost_of(prefix + "WorkflowService/CreateWorkflow") == START
    assert cost_of(prefix + "ExperimentService/CreateExperiment") == START
    for write in (
        "TemplateService/UpdateTemplate",
        "WorkflowService/CancelWorkflow",
        "ScheduleService/SetSchedulePaused",
        "AdminService/RevokeApiKey",
    ):
        assert cost_of(prefix + write) == WRITE, write
    assert cost_of(prefix + "WorkflowService/ListWorkflows") == LIST
    assert cost_of(prefix + "WorkflowService/WatchWorkflow") == WRITE
    assert cost_of(prefix + "WorkflowService/GetWorkflow") == READ
    # and a unit for each whole 64 KiB of the request
    assert cost_of(prefix + "WorkflowService/GetWorkflow", 64 * 1024 - 1) == READ
    assert cost_of(prefix + "WorkflowService/CreateWorkflow", 16 << 20) == START + 256
    assert READ < LIST < WRITE < START


def test_a_start_takes_its_cost_and_one_that_costs_more_than_the_burst_still_passes() -> None:
    bucket = TokenBucket.full(rate=10.0, burst=40.0, now=0.0)
    assert [bucket.take(0.0, 20) for _ in range(2)] == [0.0, 0.0]
    assert bucket.take(0.0, 1) == pytest.approx(0.1)  # one token away
    assert bucket.take(2.0, 20) == 0.0  # 20 tokens earned in 2 s
    small = TokenBucket.full(rate=1.0, burst=5.0, now=0.0)
    assert small.take(0.0, START) == 0.0  # capped at the burst: a full bucket lets it through
    assert small.take(1.0, START) == pytest.approx(4.0)  # 1 of 5 tokens: 4 s to the burst


async def test_a_call_over_the_rate_is_held_up_to_a_second_then_told_the_rest_of_the_wait() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def no_overrides(_tenant: str) -> TenantLimits:
        return TenantLimits()

    defaults = TenantLimits(requests_per_second=10, request_burst=20)
    limits = LimitsCache(defaults, no_overrides, ttl=60, clock=lambda: now[0])
    fair = FairUseInterceptor(limits, clock=lambda: now[0], sleep=sleep)
    with principals.acting(principals.Principal("t", "key:k", Role.ADMIN)):
        assert await fair._tenant(START) == "t"  # the whole burst
        with pytest.raises(ResourceExhausted) as short:
            await fair._tenant(READ)  # one token away: 0.1 s
        with pytest.raises(ResourceExhausted) as long:
            await fair._tenant(START)  # a start's turn comes 2 s after the read's
    assert slept == [pytest.approx(0.1), 1.0]  # held for the wait, at most a second
    assert short.value.retry_after.total_seconds() == pytest.approx(0.0)
    assert long.value.retry_after.total_seconds() == pytest.approx(1.1)
    assert "this call costs 20" in str(long.value)

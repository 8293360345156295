"""Admission: at most `limit` workflows at once; the rest wait in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helicase.scheduler.admission import Admission


def test_launches_beyond_the_limit_wait_and_are_admitted_in_order() -> None:
    admission = Admission(2)
    assert admission.request("a")
    assert admission.request("b")
    assert not admission.request("c")
    assert not admission.request("d")
    assert admission.release("a") == ["c"]
    assert admission.release("b") == ["d"]
    assert admission.running == {"c", "d"}


def test_a_repeated_request_of_a_running_workflow_is_admitted() -> None:
    admission = Admission(1)
    assert admission.request("a")
    assert admission.request("a")
    assert admission.running == {"a"}


def test_a_newcomer_does_not_jump_the_queue() -> None:
    admission = Admission(1)
    admission.request("a")
    admission.request("b")
    admission.running.clear()  # a slot frees without release (as if adopted ones ended)
    assert not admission.request("c")


def test_expedite_admits_a_waiting_workflow_past_the_limit() -> None:
    admission = Admission(1)
    admission.request("a")
    admission.request("b")
    assert admission.expedite("b")
    assert admission.running == {"a", "b"}
    assert not admission.expedite("zzz")
    assert admission.release("a") == []


def test_adopted_workflows_count_but_are_never_refused() -> None:
    admission = Admission(1)
    admission.adopt("x")
    admission.adopt("y")
    assert not admission.request("a")
    assert admission.release("x") == []
    assert admission.release("y") == ["a"]


@given(st.integers(1, 5), st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=60))
def test_running_never_exceeds_the_limit_and_nobody_is_lost(
    limit: int, ops: list[tuple[bool, int]]
) -> None:
    admission = Admission(limit)
    requested: set[int] = set()
    for is_request, n in ops:
        wf = f"w{n}"
        if is_request:
            admission.request(wf)
            requested.add(n)
        elif wf in admission.running:
            admission.release(wf)
            requested.discard(n)
        assert len(admission.running) <= limit
        # everyone requested and not released is either running or waiting, once
        assert len(admission.running) + admission.waiting == len(requested)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["launch", "release"]), st.integers(0, 30),
                  st.sampled_from(["", "chem", "bio"])),
        max_size=80,
    ),
    st.integers(1, 6),
    st.integers(1, 3),
)  # fmt: skip
def test_tenant_limits_hold_and_a_busy_tenant_does_not_block_others(
    script: list[tuple[str, int, str]], limit: int, tenant_limit: int
) -> None:
    admission = Admission(limit, tenant_limit=tenant_limit)
    tenants: dict[str, str] = {}
    for op, number, tenant in script:
        workflow_id = f"w{number}"
        if op == "launch" and workflow_id not in tenants:
            tenants[workflow_id] = tenant
            admission.request(workflow_id, tenant)
        elif op == "release":
            admission.release(workflow_id)
        running = admission.running
        assert len(running) <= limit
        for name in ("chem", "bio"):
            assert sum(tenants.get(w) == name for w in running) <= tenant_limit
    # Nothing waits that could run: every waiting workflow is blocked by a limit.
    for tenant in admission._waiting.values():
        busy = sum(tenants.get(w) == tenant for w in admission.running)
        assert len(admission.running) >= limit or (tenant and busy >= tenant_limit)


def test_a_tenant_at_its_limit_waits_while_another_tenant_runs() -> None:
    admission = Admission(10, tenant_limit=1)
    assert admission.request("a1", "chem")
    assert not admission.request("a2", "chem")
    assert admission.request("b1", "bio")
    assert admission.release("a1") == ["a2"]

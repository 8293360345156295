"""helicase.common.ownership: who holds a running workflow. The pure part directly; the owner
nodes against the in-memory ZooKeeper of the scheduler's property test."""

from __future__ import annotations

from typing import cast

from kazoo.client import KazooClient

from helicase.common import ownership
from tests.unit.test_scheduler_properties import Session, Zoo


def test_orphans_are_the_running_workflows_nobody_owns_in_their_order() -> None:
    assert ownership.orphans(["c", "a", "b"], {"a", "x"}) == ["c", "b"]
    assert ownership.orphans([], {"a"}) == []


def test_a_running_workflow_is_the_controllers_node_and_nothing_else() -> None:
    zoo = Zoo()
    controller = cast(KazooClient, Session(zoo, 1))
    assert not ownership.is_running(controller, "w")
    controller.create(ownership.running_workflow("w"), b"state", makepath=True)
    assert ownership.is_running(controller, "w")
    assert ownership.running(controller) == ["w"]
    assert ownership.owned(controller) == set()


def test_a_claim_holds_until_its_owner_releases_it_or_its_session_ends() -> None:
    zoo = Zoo()
    first, second = (cast(KazooClient, Session(zoo, n)) for n in (1, 2))
    assert ownership.claim(first, "w", "s1") is None
    assert ownership.claim(first, "w", "s1") is None  # a retry of the same launch
    assert ownership.claim(second, "w", "s2") == "s1"
    assert not ownership.take(second, "w", "s2")
    ownership.release(second, "w", "s2")  # not its claim: stays
    assert ownership.owned(first) == {"w"}
    ownership.release(first, "w", "s1")
    assert ownership.owned(first) == set()
    assert ownership.take(second, "w", "s2")
    zoo.expire(2)
    assert ownership.claim(first, "w", "s1") is None


def test_taking_an_orphan_fails_even_for_the_scheduler_whose_launch_holds_it() -> None:
    zoo = Zoo()
    scheduler = cast(KazooClient, Session(zoo, 1))
    assert ownership.claim(scheduler, "w", "s1") is None
    assert not ownership.take(scheduler, "w", "s1")

"""The controller against real ZooKeeper: fenced, chunked state writes, and a leader failover
in the middle of running workflows."""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from helicase.client import HelicaseClient
from helicase.common import zkpaths
from helicase.controller import WorkflowRun, build, encode
from helicase.controller._election import bump_epoch
from helicase.controller._store import CHUNK_BYTES, Fenced, StateStore
from helicase.controller.testing import Harness, definition
from helicase.devstack import Infra
from tests.integration.helpers import request, state, task_states


@pytest.fixture
def zk(infra: Infra) -> Iterator[KazooClient]:
    chroot = f"/ctl{uuid.uuid4().hex[:8]}"
    setup = KazooClient(hosts=infra.zookeeper.connect)
    setup.start(timeout=30)
    setup.ensure_path(chroot)
    setup.stop()
    setup.close()
    client = KazooClient(hosts=f"{infra.zookeeper.connect}{chroot}")
    client.start(timeout=30)
    yield client
    client.stop()
    client.close()


def big_state(tasks: int) -> bytes:
    noise = random.Random(7)
    h = Harness()
    h.submit(
        [
            {"id": "".join(noise.choices(string.ascii_letters, k=24)), "type": "noop"}
            for _ in range(tasks)
        ],
        workflow_id="big",
    )
    return encode(h.machine.workflows["big"])


def test_states_are_written_chunked_when_big_and_read_back(zk: KazooClient) -> None:
    store = StateStore(zk)
    epoch = bump_epoch(zk)
    small = encode(_small_run("small"))
    big = big_state(60_000)
    assert len(big) > CHUNK_BYTES
    store.write(epoch, {"small": small, "big": big})
    assert len(zk.get_children(zkpaths.workflow_state("big"))) >= 2
    store.write(epoch, {"big": big})  # a second generation replaces the first
    loaded = {w.id: w for w in StateStore(zk).load()}
    assert set(loaded) == {"small", "big"}
    assert encode(loaded["big"]) == big
    store.write(epoch, {"big": None, "small": None})
    assert zk.get_children(zkpaths.WORKFLOWS) == []


def test_a_deposed_leaders_write_is_fenced(zk: KazooClient) -> None:
    store = StateStore(zk)
    old = bump_epoch(zk)
    store.write(old, {"w": encode(_small_run("w"))})
    new = bump_epoch(zk)
    assert new == old + 1
    with pytest.raises(Fenced):
        store.write(old, {"w": None})
    fresh = StateStore(zk)
    assert [w.id for w in fresh.load()] == ["w"]
    fresh.write(new, {"w": None})


def _small_run(workflow_id: str) -> WorkflowRun:
    return WorkflowRun(build(definition([{"id": "a", "type": "noop"}], workflow_id=workflow_id)))


async def test_workflows_finish_after_the_leader_is_killed(make_suite: Any) -> None:
    suite = make_suite()
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=30)
    try:
        data, _ = zk.get(zkpaths.LEADER)
        leader = json.loads(data)
        name = next(n for n, addr in suite.addresses.items() if addr == leader["addr"])
        async with HelicaseClient(suite.api_addr, timeout=30) as client:
            tasks: list[dict[str, Any]] = [
                {"id": "a", "type": "sleep", "params": {"seconds": 1.5}},
                {"id": "b", "type": "noop", "dependsOn": ["a"]},
                {"id": "c", "type": "shell", "params": {"command": "true"}, "dependsOn": ["a"]},
            ]
            created = [await client.create(request(tasks)) for _ in range(5)]
            suite.kill(name)
            done = [await client.wait(w.id, within=90) for w in created]
        assert [state(w) for w in done] == ["COMPLETED"] * 5, suite.log(name)
        assert all(set(task_states(w).values()) == {"COMPLETED"} for w in done)
        data, _ = zk.get(zkpaths.LEADER)
        assert json.loads(data)["epoch"] > leader["epoch"]
        assert json.loads(data)["addr"] != leader["addr"]
    finally:
        zk.stop()
        zk.close()

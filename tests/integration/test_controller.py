"""The controller against real ZooKeeper: fenced, chunked state writes, and a leader failover
in the middle of running workflows."""

from __future__ import annotations

import asyncio
import json
import random
import string
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from kazoo.client import KazooClient

from helicase.client import HelicaseClient
from helicase.common import zkpaths
from helicase.common.states import TS, WS
from helicase.controller import WorkflowRun, _codec, build, encode
from helicase.controller._election import bump_epoch
from helicase.controller._store import CHUNK_BYTES, Fenced, StateStore
from helicase.controller.testing import POISON, Harness, definition
from helicase.devstack import Infra
from helicase.devstack.testing import chrooted_zk
from helicase.internal.v1 import controller_pb2, controller_pb2_grpc
from tests.integration.helpers import request, state, task_states


@pytest.fixture
def zk(infra: Infra) -> Iterator[KazooClient]:
    with chrooted_zk(infra.zookeeper.connect, "/ctl") as client:
        yield client


def big_run(
    tasks: int, workflow_id: str = "big", *, random_ids: bool = True, outputs: bool = False
) -> WorkflowRun:
    """Tasks with random ids (a definition that compresses badly) or numbered ones; with random
    outputs for every task, the state itself is big too."""
    noise = random.Random(7)
    h = Harness()
    ids = (
        ["".join(noise.choices(string.ascii_letters, k=24)) for _ in range(tasks)]
        if random_ids
        else [f"task-{i:07d}" for i in range(tasks)]
    )
    h.submit([{"id": task_id, "type": "noop"} for task_id in ids], workflow_id=workflow_id)
    run = h.machine.workflows[workflow_id]
    if outputs:
        letters = string.ascii_letters
        run.outputs = {i: {"o": "".join(noise.choices(letters, k=24))} for i in range(tasks)}
    return run


def _size(zk: KazooClient, path: str) -> int:
    stat = zk.exists(path)
    assert stat is not None, path
    return int(stat.dataLength)


def _gone(zk: KazooClient) -> bool:
    workflows: list[str] = zk.get_children(zkpaths.WORKFLOWS)
    definitions: list[str] = zk.get_children(zkpaths.DEFINITIONS)
    return workflows == [] == definitions


def test_states_and_definitions_are_written_chunked_when_big_and_read_back(
    zk: KazooClient,
) -> None:
    store = StateStore(zk)
    epoch = bump_epoch(zk)
    small = encode(_small_run("small"))
    run = big_run(60_000, outputs=True)
    big = encode(run)
    pieces = _codec.split(big)
    assert len(pieces.definition) > CHUNK_BYTES and len(pieces.frame) > CHUNK_BYTES
    store.write(epoch, {"small": small, "big": big})
    assert len(zk.get_children(zkpaths.workflow_state("big"))) >= 2
    assert len(zk.get_children(zkpaths.workflow_definition("big"))) >= 2
    definition_stat = zk.exists(zkpaths.workflow_definition("big"))
    run.outputs[0] = {"o": "changed"}
    big = encode(run)
    store.write(epoch, {"big": big})  # a second generation replaces the first
    assert zk.exists(zkpaths.workflow_definition("big")) == definition_stat  # written once
    loaded = {w.id: w for w in StateStore(zk).load()}
    assert set(loaded) == {"small", "big"}
    assert encode(loaded["big"]) == big
    store.write(epoch, {"big": None, "small": None})
    assert _gone(zk)


def test_a_100000_task_workflow_writes_its_definition_once(zk: KazooClient) -> None:
    store = StateStore(zk)
    epoch = bump_epoch(zk)
    run = big_run(100_000, random_ids=False)
    first = encode(run)
    packed = run.definition.packed
    assert packed is not None and 200_000 < len(packed) < CHUNK_BYTES
    store.write(epoch, {"big": first})
    definition_path, state_path = zkpaths.workflow_definition("big"), zkpaths.workflow_state("big")
    assert zk.get(definition_path)[0] == packed
    definition_stat = zk.exists(definition_path)
    commits = []
    for n in range(3):  # commits as the run goes on write only the state, a few KB
        run.task_state[n] = TS.TASK_STATE_COMPLETED
        run.final[n] = 1
        run.count_unfinished()
        store.write(epoch, {"big": encode(run)})
        commits.append(_size(zk, state_path))
    assert max(commits) < 10_000 < len(packed) // 20, commits
    assert zk.exists(definition_path) == definition_stat
    # A new leader reads both pieces back: the same run, and it does not write the definition.
    fresh = StateStore(zk)
    (loaded,) = fresh.load()
    assert encode(loaded) == encode(run)
    assert loaded.task_state == run.task_state and loaded.unfinished == run.unfinished
    loaded.task_state[5] = TS.TASK_STATE_COMPLETED
    fresh.write(epoch, {"big": encode(loaded)})
    assert zk.exists(definition_path) == definition_stat
    fresh.write(epoch, {"big": None})  # released: both pieces deleted
    assert _gone(zk)


def test_a_version_4_state_still_loads_and_is_then_stored_in_two_pieces(
    zk: KazooClient,
) -> None:
    run = big_run(2_000, "old")
    v4 = encode(run)
    zk.ensure_path(zkpaths.WORKFLOWS)
    zk.create(zkpaths.workflow_state("old"), v4)  # as a controller of the version before wrote it
    epoch = bump_epoch(zk)
    store = StateStore(zk)
    (loaded,) = store.load()
    assert encode(loaded) == v4
    assert zk.exists(zkpaths.workflow_definition("old")) is None
    store.write(epoch, {"old": encode(loaded)})
    assert _codec.stored_apart(zk.get(zkpaths.workflow_state("old"))[0])
    assert zk.get(zkpaths.workflow_definition("old"))[0] == run.definition.packed
    (again,) = StateStore(zk).load()
    assert encode(again) == v4
    store.write(epoch, {"old": None})
    assert _gone(zk)


def test_a_definition_without_its_state_is_removed_by_the_next_write(zk: KazooClient) -> None:
    epoch = bump_epoch(zk)
    zk.ensure_path(zkpaths.DEFINITIONS)
    zk.create(zkpaths.workflow_definition("orphan"), b"a leader died before the state")
    zk.create(f"{zkpaths.workflow_definition('chunked')}/0-00000", b"x", makepath=True)
    store = StateStore(zk)
    assert store.load() == []
    assert len(zk.get_children(zkpaths.DEFINITIONS)) == 2
    store.write(epoch, {"w": encode(_small_run("w"))})
    assert zk.get_children(zkpaths.DEFINITIONS) == ["w"]
    store.write(epoch, {"w": None})
    assert _gone(zk)


def test_a_state_is_never_stored_without_its_definition(zk: KazooClient) -> None:
    """A deposed leader writes neither piece; one whose view of the nodes is wrong (a lost
    answer) still writes both."""
    store = StateStore(zk)
    old = bump_epoch(zk)
    bump_epoch(zk)
    with pytest.raises(Fenced):
        store.write(old, {"w": encode(_small_run("w"))})
    assert _gone(zk)
    epoch = bump_epoch(zk)
    store.write(epoch, {"w": encode(_small_run("w"))})
    zk.delete(zkpaths.workflow_definition("w"))  # unknown to the store: its first try fails
    zk.delete(zkpaths.workflow_state("w"))
    store.write(epoch, {"w": encode(_small_run("w")), "v": encode(_small_run("v"))})
    assert [w.id for w in StateStore(zk).load()] == ["v", "w"]
    store.write(epoch, {"w": None, "v": None})
    assert _gone(zk)


def test_a_deposed_leaders_write_is_fenced(zk: KazooClient) -> None:
    store = StateStore(zk)
    old = bump_epoch(zk)
    store.write(old, {"w": encode(_small_run("w"))})
    new = bump_epoch(zk)
    assert new == old + 1
    with pytest.raises(Fenced):
        store.write(old, {"w": None})
    assert zk.exists(zkpaths.workflow_definition("w")) is not None
    fresh = StateStore(zk)
    assert [w.id for w in fresh.load()] == ["w"]
    fresh.write(new, {"w": None})
    assert _gone(zk)


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
        async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
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


def _leader(zk: KazooClient) -> dict[str, Any]:
    data, _ = zk.get(zkpaths.LEADER)
    leader: dict[str, Any] = json.loads(data) if data else {}
    return leader


async def test_a_machine_failure_makes_the_leader_resign_and_the_standby_takes_over(
    make_suite: Any,
) -> None:
    """Both controllers run a machine with a planted defect (`testing.PoisonedMachine`): a
    cancel with reason POISON applies (CANCELING) and then raises InvalidTransition. The leader
    that gets it resigns without persisting, publishing or answering anything of the step; the
    standby takes over from the last durable state and the workflow completes."""
    poisoned = "helicase.controller.poisoned"
    suite = make_suite(modules={"controller-a": poisoned, "controller-b": poisoned})
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=30)
    try:
        leader = _leader(zk)
        name = next(n for n, addr in suite.addresses.items() if addr == leader["addr"])
        async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
            tasks: list[dict[str, Any]] = [
                {"id": "a", "type": "sleep", "params": {"seconds": 2}},
                {"id": "b", "type": "noop", "dependsOn": ["a"]},
            ]
            created = await client.create(request(tasks))
            for _ in range(100):  # until the controller runs it
                stored = {w.id: w for w in StateStore(zk).load()}
                if created.id in stored:
                    break
                await asyncio.sleep(0.1)
            async with grpc.aio.insecure_channel(leader["addr"]) as channel:
                stub = controller_pb2_grpc.ControllerServiceStub(channel)
                poison = controller_pb2.CancelWorkflowRequest(workflow_id=created.id, reason=POISON)
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.CancelWorkflow(poison, timeout=20)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value
            (run,) = [w for w in StateStore(zk).load() if w.id == created.id]
            assert run.state == WS.WORKFLOW_STATE_RUNNING  # nothing of the cancel persisted
            done = await client.wait(created.id, within=90)
        assert state(done) == "COMPLETED", suite.log(name)
        assert set(task_states(done).values()) == {"COMPLETED"}
        assert "the machine failed; resigning leadership" in suite.log(name, 400)
        now = _leader(zk)
        assert now["epoch"] > leader["epoch"] and now["addr"] != leader["addr"]
    finally:
        zk.stop()
        zk.close()

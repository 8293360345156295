"""ListParticipants (the api reads the ZooKeeper registry and the recorded load) through the
Python client and the CLI, against a live suite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from helicase.client import HelicaseClient, load_workflow_request
from helicase.v1 import workflow_pb2
from tests.integration.test_cli import in_terminal

SLEEPS = 3


async def test_participants_are_listed_with_types_capacity_registration_and_load(
    suite: Any,
) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        listed = await client.participants()
        assert sorted(p.name for p in listed) == sorted(suite.participant_names)
        for p in listed:
            assert p.instance_group == "default"
            assert {"noop", "sleep", "shell"} <= set(p.task_types)
            assert p.capacity == 8
            assert 0 < p.connected_since.seconds <= time.time()
        assert await client.participants(instance_group="no-such-group") == []
        assert await client.participants(task_type="no-such-type") == []
        assert len(await client.participants("default", "sleep")) == len(listed)

        request = load_workflow_request(
            {"workflow": {"tasks": [
                {"id": f"s{i}", "type": "sleep", "params": {"seconds": 6}} for i in range(SLEEPS)
            ]}}
        )  # fmt: skip
        workflow = await client.create(request)
        deadline = time.monotonic() + 60
        while True:
            current = await client.get(workflow.id)
            running = [t for t in current.tasks if t.state == workflow_pb2.TASK_STATE_RUNNING]
            if len(running) == SLEEPS:
                break
            assert time.monotonic() < deadline, current
            await asyncio.sleep(0.1)
        held: dict[str, int] = {}
        for task in running:
            held[task.participant] = held.get(task.participant, 0) + 1
        loads = {p.name: p.load for p in await client.participants()}
        for name, count in held.items():
            assert loads[name] >= count, (loads, held)

        done = await client.wait(workflow.id, within=60)
        assert done.state == workflow_pb2.WORKFLOW_STATE_COMPLETED
        after = {p.name: p.load for p in await client.participants()}
        assert sum(after.values()) <= sum(loads.values()) - SLEEPS


def test_the_cli_lists_participants_in_a_terminal(suite: Any, tmp_path: Path) -> None:
    code, screen = in_terminal("--api", suite.api_addr, "participants", "--group", "default")
    assert code == 0, screen
    for name in suite.participant_names:
        assert name in screen
    assert "/8" in screen  # load/capacity

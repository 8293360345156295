"""Participants, scheduler and sink survive their failures: a killed participant's task runs
elsewhere, a live participant name is refused, an orphaned workflow is adopted by a restarted
scheduler, and events that can never be stored go to the dead-letter topic without stalling."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from kazoo.client import KazooClient

from helicase.client import HelicaseClient
from helicase.common import zkpaths
from helicase.common.states import TS
from helicase.internal.v1 import event_pb2
from tests.integration.helpers import request, run_to_end, state, task_states


async def wait_running(client: HelicaseClient, workflow_id: str, task_id: str) -> str:
    """Waits until the task RUNS; returns its participant."""
    for _ in range(300):
        workflow = await client.get(workflow_id)
        task = next(t for t in workflow.tasks if t.id == task_id)
        if task.state == TS.TASK_STATE_RUNNING and task.participant:
            return task.participant
        await asyncio.sleep(0.1)
    raise AssertionError(f"{task_id} never ran")


async def test_a_killed_participants_task_is_replaced_on_the_other(make_suite: Any) -> None:
    suite = make_suite()
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        tasks = [{"id": "long", "type": "sleep", "params": {"seconds": 2}}]
        created = await client.create(request(tasks))
        first = await wait_running(client, created.id, "long")
        suite.kill(f"participant-{suite.participant_names.index(first) + 1}")
        done = await client.wait(created.id, within=60)
    assert state(done) == "COMPLETED"
    assert done.tasks[0].participant != first
    assert done.tasks[0].participant in suite.participant_names


def test_a_second_participant_with_a_live_name_is_refused(make_suite: Any) -> None:
    suite = make_suite(["participant-1"])
    env = {**os.environ, **suite.env, **suite.specs["participant-1"].env}
    env["HELICASE_PARTICIPANT_ADDR"] = "127.0.0.1:0"
    env["HELICASE_METRICS_ADDR"] = ""  # its own ports: only the name is shared
    proc = subprocess.run(
        [sys.executable, "-m", "helicase.participant"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "already live" in proc.stderr


async def test_a_restarted_scheduler_adopts_and_releases_an_orphaned_workflow(
    make_suite: Any,
) -> None:
    suite = make_suite()
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        tasks = [{"id": "long", "type": "sleep", "params": {"seconds": 3}}]
        created = await client.create(request(tasks))
        await wait_running(client, created.id, "long")
        suite.kill("scheduler")
        suite.start("scheduler")
        done = await client.wait(created.id, within=60)
    assert state(done) == "COMPLETED"
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=10)
    try:
        for _ in range(100):  # released: no coordination state left behind
            gone = zk.exists(zkpaths.workflow_state(created.id)) is None
            gone = gone and zk.exists(zkpaths.workflow_definition(created.id)) is None
            if gone and zk.exists(zkpaths.owner(created.id)) is None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("workflow state, definition or owner node left in ZooKeeper")
    finally:
        zk.stop()
        zk.close()


async def test_unstorable_events_go_to_the_dead_letter_topic_without_stalling(suite: Any) -> None:
    topic = f"{suite.topic_prefix}helicase.events"
    producer = Producer({"bootstrap.servers": suite.env["HELICASE_KAFKA"]})
    no_payload = event_pb2.Event(event_id=uuid.uuid4().hex, workflow_id=str(uuid.uuid4()))
    producer.produce(topic, key=b"x", value=b"\x00 not an event")
    producer.produce(topic, key=b"x", value=no_payload.SerializeToString())
    producer.flush(10)
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        done = await run_to_end(client, [{"id": "a", "type": "noop"}])
    assert task_states(done) == {"a": "COMPLETED"}

    consumer = Consumer({
        "bootstrap.servers": suite.env["HELICASE_KAFKA"], "group.id": uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    consumer.subscribe([f"{suite.topic_prefix}helicase.events.dlq"])
    seen: set[bytes] = set()
    try:
        deadline = time.monotonic() + 30
        # The topic may hold other tests' letters before ours (the fuzzer's): read them all.
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    seen.add(message.value() or b"")
            if {b"\x00 not an event", no_payload.SerializeToString()} <= seen:
                break
    finally:
        consumer.close()
    assert {b"\x00 not an event", no_payload.SerializeToString()} <= seen

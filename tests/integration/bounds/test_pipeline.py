"""The event pipeline under poison and size (issue 13): a backlog of events over the gRPC message
limit is split and stored whole; garbage and invalid messages on the events and commands topics,
and an event too large to ever store, are dead-lettered with their reason while a canary
workflow still completes; the controller's stream reader survives an unreadable participant
result; DeadLetterService lists and replays the dead letters (platform admin only)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import psycopg
from confluent_kafka import Consumer, Producer
from kazoo.client import KazooClient

from helicase import wire
from helicase.client import HelicaseClient
from helicase.common import events, tls, topics
from helicase.common.limits import OUTPUTS_BYTES as MAX_OUTPUT_BYTES
from helicase.common.registry import ParticipantInfo, TaskTypeInfo
from helicase.devstack.testing import RunningSuite
from helicase.internal.v1 import command_pb2, event_pb2, participant_pb2
from helicase.participant.registration import register
from helicase.v1 import dead_letter_pb2, workflow_pb2
from tests.integration.bounds.big_outputs import TYPE
from tests.integration.helpers import request, run_to_end, state
from tests.integration.trust.test_plane import Stream, hello, leader_addr

KIND = dead_letter_pb2
CANARY_SECONDS = 20


def producer(suite: RunningSuite) -> Producer:
    return Producer(
        {"bootstrap.servers": suite.env["HELICASE_KAFKA"], "message.max.bytes": 20 * 2**20}
    )


def events_of(suite: RunningSuite, workflow_id: str, expected_completed: int) -> dict[str, int]:
    """{event_id: size} of the workflow's events on the events topic, once `expected_completed`
    of its tasks have a COMPLETED event there."""
    name = topics.topic(suite.topic_prefix, topics.EVENTS)
    c = Consumer(
        {
            "bootstrap.servers": suite.env["HELICASE_KAFKA"],
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([name])
    found: dict[str, int] = {}
    completed: set[str] = set()
    try:
        for _ in range(1200):
            message = c.poll(0.5)
            if message is None or message.error() is not None:
                continue
            event = event_pb2.Event.FromString(message.value() or b"")
            if event.workflow_id != workflow_id:
                continue
            found[event.event_id] = len(message.value() or b"")
            if event.task_event.state == workflow_pb2.TASK_STATE_COMPLETED:
                completed.add(event.task_event.task_id)
            if len(completed) >= expected_completed:
                break
    finally:
        c.close()
    assert len(completed) >= expected_completed, f"only {len(completed)} tasks completed"
    return found


async def test_a_backlog_over_the_message_limit_is_split_and_every_event_stored(
    make_suite: Any,
) -> None:
    # Batching by count only (the batch bytes set past the gRPC limit), as the sink did before:
    # the backlog comes in one batch over the limit, refused for its size and split.
    suite: RunningSuite = make_suite(
        extra_env={
            "HELICASE_PARTICIPANT_MODULES": "tests.integration.bounds.big_outputs",
            "HELICASE_PARTICIPANT_TASK_TYPES": f"noop,sleep,{TYPE}",
            "HELICASE_SINK_BATCH": "5000",
            "HELICASE_SINK_BATCH_BYTES": str(256 * 2**20),
            "HELICASE_SINK_LINGER": "3s",
        }
    )
    size = MAX_OUTPUT_BYTES - 100  # near the per-task output limit, whatever it is
    count = min(2000, max(300, math.ceil(20 * 2**20 / size)))
    suite.stop("sink")
    tasks = [{"id": f"t{i}", "type": TYPE, "params": {"size": size}} for i in range(count)]
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        created = await client.create(request(tasks))
        backlog = await asyncio.to_thread(events_of, suite, created.id, count)
        assert sum(backlog.values()) > wire.MAX_MESSAGE_BYTES  # one batch would be refused
        suite.start("sink")
        deadline = asyncio.get_running_loop().time() + 90
        while asyncio.get_running_loop().time() < deadline:
            workflow = await client.get(created.id, full=False)
            if workflow.state == workflow_pb2.WORKFLOW_STATE_COMPLETED:
                break
            await asyncio.sleep(0.2)
        assert state(workflow) == "COMPLETED"
    with psycopg.connect(suite.database_url) as conn:
        stored = {
            row[0]
            for row in conn.execute(
                "SELECT event_id FROM events WHERE workflow_id = %s", (created.id,)
            )
        }
        (done,) = conn.execute(
            "SELECT count(*) FROM tasks WHERE workflow_id = %s AND state = %s"
            " AND length(outputs->>'blob') = %s",
            (created.id, workflow_pb2.TASK_STATE_COMPLETED, size),
        ).fetchone() or (0,)
    assert set(backlog) <= stored
    assert done == count


# --- poison on the topics ------------------------------------------------------------------


async def dead_letters(
    suite: RunningSuite, kind: int = KIND.DEAD_LETTER_KIND_UNSPECIFIED
) -> list[dead_letter_pb2.DeadLetter]:
    found: list[dead_letter_pb2.DeadLetter] = []
    async with HelicaseClient(suite.api_addr, token=suite.admin_token, timeout=30) as admin:
        token = ""
        while True:
            page = await admin.list_dead_letters(kind, 200, token)  # type: ignore[arg-type]
            found.extend(page.dead_letters)
            token = page.next_page_token
            if not token:
                return found


async def letters_keyed(
    suite: RunningSuite, keys: set[bytes], at_least: int = 1
) -> dict[bytes, list[dead_letter_pb2.DeadLetter]]:
    """The dead letters with these keys, once each key has `at_least` of them."""
    by_key: dict[bytes, list[dead_letter_pb2.DeadLetter]] = {}
    for _ in range(60):
        by_key = {}
        for letter in await dead_letters(suite):
            if letter.key in keys:
                by_key.setdefault(letter.key, []).append(letter)
        if all(len(by_key.get(k, [])) >= at_least for k in keys):
            return by_key
        await asyncio.sleep(0.5)
    raise AssertionError(f"dead letters seen: { {k: len(v) for k, v in by_key.items()} }")


async def test_poison_on_each_topic_is_dead_lettered_and_the_pipeline_flows_on(
    suite: RunningSuite,
) -> None:
    marker = uuid.uuid4().hex[:8]
    key = {
        name: f"{name}-{marker}".encode()
        for name in ("garbage", "invalid", "huge", "cmd", "bad-id", "unknown", "other-id")
    }
    invalid = events.workflow_event(
        workflow_id="not-a-workflow", state=workflow_pb2.WORKFLOW_STATE_RUNNING, source="test"
    )
    huge = events.workflow_event(
        workflow_id=str(uuid.uuid4()), state=workflow_pb2.WORKFLOW_STATE_CANCELED, source="test"
    )
    huge.workflow_event.message = "x" * (wire.MAX_MESSAGE_BYTES + 2**20)  # never fits a call
    bad_id = command_pb2.Command(command_id=marker, workflow_id="../not-an-id")
    bad_id.launch.workflow.display_name = "bad"
    # Well-formed launches no api wrote: of a workflow the api does not have (it ran, then held
    # a scheduler slot for ever), and one carrying another id (it named ZooKeeper nodes).
    unknown = command_pb2.Command(command_id=marker, workflow_id=str(uuid.uuid4()))
    unknown.launch.workflow.display_name = "no api wrote it"
    other_id = command_pb2.Command(command_id=marker, workflow_id=str(uuid.uuid4()))
    other_id.launch.workflow.id = "../../escape"
    p = producer(suite)
    on_events = topics.topic(suite.topic_prefix, topics.EVENTS)
    on_commands = topics.topic(suite.topic_prefix, topics.COMMANDS)
    p.produce(on_events, key=key["garbage"], value=b"\xff\x00 not an event " + key["garbage"])
    p.produce(on_events, key=key["invalid"], value=invalid.SerializeToString())
    p.produce(on_events, key=key["huge"], value=huge.SerializeToString())
    p.produce(on_commands, key=key["cmd"], value=b"\xff\x00 not a command " + key["cmd"])
    p.produce(on_commands, key=key["bad-id"], value=bad_id.SerializeToString())
    p.produce(on_commands, key=key["unknown"], value=unknown.SerializeToString())
    p.produce(on_commands, key=key["other-id"], value=other_id.SerializeToString())
    assert p.flush(30) == 0

    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        canary = await run_to_end(client, [{"id": "a", "type": "noop"}], within=CANARY_SECONDS)
    assert state(canary) == "COMPLETED"

    found = await letters_keyed(suite, set(key.values()))
    one = {name: found[k][0] for name, k in key.items()}
    for name in ("garbage", "invalid", "huge"):
        assert one[name].kind == KIND.DEAD_LETTER_KIND_EVENTS
        assert one[name].consumer == "sink"
        assert one[name].origin_topic == on_events
        assert one[name].origin_offset >= 0 and one[name].dead_letter_time.seconds > 0
    for name in ("cmd", "bad-id", "unknown", "other-id"):
        assert one[name].kind == KIND.DEAD_LETTER_KIND_COMMANDS
        assert one[name].consumer == "scheduler"
        assert one[name].origin_topic == on_commands
    assert "not a helicase.internal.v1.Event" in one["garbage"].reason
    assert "workflow_id" in one["invalid"].reason
    assert "larger than max" in one["huge"].reason
    assert one["huge"].value_size > wire.MAX_MESSAGE_BYTES
    assert len(one["huge"].value_preview) == 1024
    assert "not a helicase.internal.v1.Command" in one["cmd"].reason
    assert "not a workflow id" in one["bad-id"].reason
    assert "the api has no workflow" in one["unknown"].reason
    assert "is not the command's workflow" in one["other-id"].reason

    # Replayed to their origin topics, they are dead-lettered again (nothing else stalls).
    chosen = [one["garbage"].id, one["cmd"].id]
    async with HelicaseClient(suite.api_addr, token=suite.admin_token, timeout=30) as admin:
        replayed = await admin.replay_dead_letters(chosen)
    assert (replayed.replayed_count, replayed.skipped_count) == (2, 0)
    await letters_keyed(suite, {key["garbage"], key["cmd"]}, at_least=2)


async def test_only_a_platform_admin_reads_or_replays_dead_letters(suite: RunningSuite) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as tenant_admin:
        for call in (
            tenant_admin.list_dead_letters(),
            tenant_admin.replay_dead_letters(kind=KIND.DEAD_LETTER_KIND_EVENTS),
        ):
            try:
                await call
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            else:
                raise AssertionError("a tenant's admin was served")


def test_the_cli_lists_dead_letters(suite: RunningSuite) -> None:
    env = {**os.environ, "HELICASE_TOKEN": suite.admin_token, "HELICASE_API_ADDR": suite.api_addr}
    listed = subprocess.run(
        ["helicase", "-o", "json", "admin", "dead-letters", "list", "--kind", "events", "--all"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    letters = json.loads(listed.stdout)["deadLetters"]
    assert all(letter["id"].startswith("events/") for letter in letters)
    usage = subprocess.run(
        ["helicase", "admin", "dead-letters", "replay"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert usage.returncode == 2


# --- the controller's participant stream reader ---------------------------------------------


@contextmanager
def registered(suite: RunningSuite, name: str, group: str) -> Iterator[None]:
    """A participant registration node (what the real participant writes), while the block runs."""
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=30)
    try:
        info = ParticipantInfo(
            name=name, group=group, capacity=1, task_types=[TaskTypeInfo(name="noop")]
        )
        register(zk, info, wait=5)
        yield
    finally:
        zk.stop()
        zk.close()


async def next_assignment(stream: Stream) -> participant_pb2.Assignment:
    while True:
        response = await stream.receive()
        kind = response.WhichOneof("message")
        messages = list(response.batch.messages) if kind == "batch" else [response]
        for message in messages:
            if message.WhichOneof("message") == "assignment":
                return message.assignment


async def test_the_stream_reader_survives_an_unreadable_result_and_the_task_completes(
    suite: RunningSuite,
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    name = f"p-{group}"
    files = suite.certificate("participant", name, group)
    nan = participant_pb2.TaskResult(outcome=participant_pb2.TASK_OUTCOME_COMPLETED)
    nan.outputs.update({"value": float("nan")})
    with registered(suite, name, group):
        async with tls.channel(leader_addr(suite), files, "controller") as channel:
            first = hello(name, group)
            first.hello.task_types.add(name="noop")
            stream = Stream(channel, first)
            assert (await stream.receive()).WhichOneof("message") == "welcome"
            async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
                created = await client.create(
                    request(
                        [{"id": "a", "type": "noop", "instanceGroup": group,
                          "retry": {"maxAttempts": 3, "initialBackoff": "0.1s"}}]
                    )
                )  # fmt: skip
                first_try = await next_assignment(stream)
                nan.task.CopyFrom(first_try.task)
                stream.send(participant_pb2.ConnectRequest(result=nan))
                # The reader went on: the failed attempt is retried on this same stream.
                second_try = await next_assignment(stream)
                assert second_try.task.attempt == first_try.task.attempt + 1
                good = participant_pb2.TaskResult(
                    task=second_try.task, outcome=participant_pb2.TASK_OUTCOME_COMPLETED
                )
                good.outputs.update({"value": 1})
                stream.send(participant_pb2.ConnectRequest(result=good))
                done = await client.wait(created.id, within=30)
            stream.call.cancel()
    assert state(done) == "COMPLETED"
    (task,) = done.tasks
    assert task.attempt == second_try.task.attempt
    letters = [
        d
        for d in await dead_letters(suite, KIND.DEAD_LETTER_KIND_PARTICIPANT_MESSAGES)
        if d.participant == f"{group}/{name}"
    ]
    assert len(letters) >= 1
    assert "NaN" in letters[0].reason and letters[0].consumer == "controller"
    assert letters[0].origin_topic == "" and letters[0].origin_offset == -1

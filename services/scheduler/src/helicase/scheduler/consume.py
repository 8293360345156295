"""The command loop: poll "helicase.commands" in a thread, process commands concurrently, and
commit each partition's offsets only as far as every earlier command is done."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from google.protobuf.message import DecodeError

from helicase.common import kafka, topics, tracing
from helicase.common.config import CommonConfig
from helicase.internal.v1 import command_pb2
from helicase.scheduler.offsets import CommitTracker, Partition
from helicase.scheduler.workflows import Workflows

log = logging.getLogger(__name__)


def decode_command(value: bytes | None) -> command_pb2.Command | None:
    """The command, or None if the message is not a usable Command."""
    if not value:
        return None
    command = command_pb2.Command()
    try:
        command.ParseFromString(value)
    except DecodeError:
        return None
    if not command.workflow_id or command.WhichOneof("command") is None:
        return None
    return command


class CommandLoop:
    def __init__(self, *, config: CommonConfig, workflows: Workflows, max_in_flight: int) -> None:
        self._config = config
        self._workflows = workflows
        self._max_in_flight = max_in_flight
        self._tracker = CommitTracker()
        self._consumer: Consumer | None = None
        # The consumer is not thread-safe: every call to it goes through this one thread.
        self._kafka_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commands")
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._kafka_thread, fn, *args)

    def _open(self) -> Consumer:
        return kafka.consumer(
            self._config,
            "scheduler",
            [topics.COMMANDS],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [p.partition for p in partitions]})
        self._forget(partitions)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": [p.partition for p in partitions]})
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        # Runs in the consumer thread, inside poll.
        assert self._loop is not None
        for p in partitions:
            self._loop.call_soon_threadsafe(self._tracker.forget, (p.topic, p.partition))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._consumer = await self._in_thread(self._open)
        while not self._stopping:
            try:
                await self._backpressure()
                messages: list[Message] = await self._in_thread(
                    kafka.poll_batch, self._consumer, 100, 0.2
                )
            except Exception:
                log.exception("kafka poll failed")
                await asyncio.sleep(1)
                continue
            for message in messages:
                if message.error() is not None:
                    log.warning("kafka consumer error", extra={"error": str(message.error())})
                    continue
                self._dispatch(message)

    async def _backpressure(self) -> None:
        """Pauses fetching while too many commands wait (e.g. launches held by admission);
        polling goes on so the group keeps us. Launches held only by their own tenant's
        running limit do not count: one tenant's backlog (bounded by its queued-task quota at
        the api) must not keep other tenants' launches unread."""
        assert self._consumer is not None
        waiting = self._tracker.in_flight() - self._workflows.held_by_tenant()
        full = waiting >= self._max_in_flight
        if full != self._paused:
            assignment = await self._in_thread(self._consumer.assignment)
            await self._in_thread(
                self._consumer.pause if full else self._consumer.resume, assignment
            )
            self._paused = full
            log.info("command intake " + ("paused" if full else "resumed"))

    def _dispatch(self, message: Message) -> None:
        partition: Partition = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        self._tracker.start(partition, offset)
        parent = tracing.from_kafka_headers(message.headers())
        task = asyncio.create_task(self._process(partition, offset, message.value(), parent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(
        self, partition: Partition, offset: int, value: Any, parent: dict[str, str]
    ) -> None:
        command = decode_command(value)
        if command is None:
            log.error(
                "malformed command skipped", extra={"partition": partition[1], "offset": offset}
            )
        else:
            kind = command.WhichOneof("command") or "command"
            with tracing.span(f"scheduler {kind}", parent, workflow_id=command.workflow_id):
                await self._handle_until_done(command, partition, offset)
        commit_to = self._tracker.done(partition, offset)
        if commit_to is not None:
            await self._commit(partition, commit_to)

    async def _handle_until_done(
        self, command: command_pb2.Command, partition: Partition, offset: int
    ) -> None:
        """A command is never dropped: an unexpected error (ZooKeeper away, say) retries it;
        launch and cancel are idempotent."""
        backoff = 0.5
        while True:
            try:
                await self._workflows.handle(command)
                return
            except Exception:
                log.exception(
                    "command failed; retrying",
                    extra={
                        "partition": partition[1],
                        "offset": offset,
                        "workflow_id": command.workflow_id,
                    },
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _commit(self, partition: Partition, offset: int) -> None:
        assert self._consumer is not None
        tp = TopicPartition(partition[0], partition[1], offset)
        try:
            await self._in_thread(lambda: self._consumer.commit(offsets=[tp], asynchronous=False))
        except Exception as exc:
            log.warning("offset commit failed", extra={"error": str(exc)})

    async def stop(self) -> None:
        self._stopping = True
        if self._consumer is not None:
            await self._in_thread(self._consumer.close)
        self._kafka_thread.shutdown(wait=False)

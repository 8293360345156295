"""The command loop: poll "helicase.commands" in a thread, process commands concurrently, and
commit each partition's offsets only as far as every earlier command is done."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from helicase.common import kafka, topics, tracing
from helicase.common.config import CommonConfig
from helicase.common.deadletter import DeadLetterWriter, Letter, Origin
from helicase.internal.v1 import command_pb2
from helicase.scheduler import metrics
from helicase.scheduler.decoding import MAX_FAILURES, decode_command, transient
from helicase.scheduler.offsets import CommitTracker, Partition
from helicase.scheduler.workflows import WorkflowNotStored, Workflows

log = logging.getLogger(__name__)


@dataclass
class Intake:
    """What the command loop holds, and whether it may read more (pure). Commands read and not
    yet done (launches waiting for admission among them) are counted, and so are their bytes: a
    launch carries its whole workflow, and 1,100 launches of 7.5 MiB made a scheduler grow to
    14 GiB before the kernel killed it (docs/reliability.md, "Large requests at once")."""

    max_waiting: int
    max_bytes: int
    bytes: int = 0

    def hold(self, size: int) -> None:
        self.bytes += size

    def release(self, size: int) -> None:
        self.bytes -= size

    def full(self, waiting: int, held_bytes: int = 0) -> bool:
        """Whether to read no more, with `waiting` commands and all but `held_bytes` of the
        bytes not held by their tenant's own running limit. Those do not stop other tenants'
        launches (nor cancels): that backlog is what the tenant's quotas at the api bound."""
        return waiting >= self.max_waiting or self.bytes - held_bytes >= self.max_bytes


class CommandLoop:
    def __init__(
        self,
        *,
        config: CommonConfig,
        workflows: Workflows,
        intake: Intake,
        dead_letters: DeadLetterWriter,
    ) -> None:
        self._config = config
        self._dead_letters = dead_letters
        self._workflows = workflows
        self._intake = intake
        self._tracker = CommitTracker()
        self._consumer: Consumer | None = None
        # The consumer is not thread-safe: every call to it goes through this one thread.
        self._kafka_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commands")
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready: deque[Message] = deque()  # read, waiting for room in the intake
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
            self._loop.call_soon_threadsafe(self._drop_ready, (p.topic, p.partition))

    def _drop_ready(self, partition: Partition) -> None:
        """Read but not dispatched: the partition's next owner reads them again."""
        self._ready = deque(
            m for m in self._ready if (m.topic() or "", m.partition() or 0) != partition
        )

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
                self._ready.append(message)
            while self._ready and not self._full():
                self._dispatch(self._ready.popleft())

    def _full(self) -> bool:
        """Whether the commands in hand fill the intake. Launches held only by their own
        tenant's running limit do not count: one tenant's backlog (bounded by its quotas at
        the api) must not keep other tenants' launches, or anyone's cancels, unread."""
        held, held_bytes = self._workflows.held_by_tenant()
        return self._intake.full(self._tracker.in_flight() - held, held_bytes)

    async def _backpressure(self) -> None:
        """Pauses fetching while the intake is full or messages read wait for room (e.g.
        launches held by admission); polling goes on so the group keeps us. A batch read is
        handed over one message at a time as room frees, so the bytes in hand pass the budget
        by one message at most."""
        assert self._consumer is not None
        full = bool(self._ready) or self._full()
        if full != self._paused:
            assignment = await self._in_thread(self._consumer.assignment)
            await self._in_thread(
                self._consumer.pause if full else self._consumer.resume, assignment
            )
            self._paused = full
            log.info(
                "command intake " + ("paused" if full else "resumed"),
                extra={"read": len(self._ready), "bytes": self._intake.bytes},
            )

    def _dispatch(self, message: Message) -> None:
        partition: Partition = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        self._tracker.start(partition, offset)
        parent = tracing.from_kafka_headers(message.headers())
        size = len(message.value() or b"")
        self._intake.hold(size)
        metrics.COMMAND_BYTES.set(self._intake.bytes)
        task = asyncio.create_task(self._process(partition, offset, message, parent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._release(size))

    def _release(self, size: int) -> None:
        self._intake.release(size)
        metrics.COMMAND_BYTES.set(self._intake.bytes)

    async def _process(
        self, partition: Partition, offset: int, message: Message, parent: dict[str, str]
    ) -> None:
        command, problem = decode_command(message.value())
        if command is not None:
            kind = command.WhichOneof("command") or "command"
            with tracing.span(f"scheduler {kind}", parent, workflow_id=command.workflow_id):
                problem = await self._handle_until_done(command, partition, offset)
        if problem:
            origin = Origin(partition[0], partition[1], offset)
            letter = Letter(message.key(), message.value(), problem, origin)
            await self._park(letter)
        # Only now, handled or parked, may the offset be committed past it.
        commit_to = self._tracker.done(partition, offset)
        if commit_to is not None:
            await self._commit(partition, commit_to)

    async def _park(self, letter: Letter) -> None:
        """Sends `letter` to the commands' dead-letter topic, retrying until Kafka has it."""
        backoff = 0.5
        while True:
            try:
                await self._dead_letters.send(topics.COMMANDS_DEAD_LETTER, [letter])
                return
            except Exception:
                log.exception("dead letter not written; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _handle_until_done(
        self, command: command_pb2.Command, partition: Partition, offset: int
    ) -> str:
        """Handles a command; "" once done, or why it never can be. An outage (ZooKeeper away,
        say) is retried for as long as it lasts (launch and cancel are idempotent); any other
        error MAX_FAILURES times in a row gives the command up to the dead-letter topic."""
        backoff = 0.5
        failures = 0
        while True:
            try:
                await self._workflows.handle(command)
                return ""
            except WorkflowNotStored as exc:
                return str(exc)  # it never can be: no api wrote this launch
            except Exception as exc:
                failures = 0 if transient(exc) else failures + 1
                log.exception(
                    "command failed; retrying",
                    extra={
                        "partition": partition[1],
                        "offset": offset,
                        "workflow_id": command.workflow_id,
                        "failures": failures,
                    },
                )
                if failures >= MAX_FAILURES:
                    return f"failed {failures} times: {exc!r}"
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

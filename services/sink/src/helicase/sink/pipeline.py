"""The sink's loop: poll a batch, store it through the api, dead-letter what can never be stored,
then commit the batch's offsets. Offsets are committed only after the api has the events."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, Message, TopicPartition

from helicase.common import topics
from helicase.common.deadletter import DeadLetterWriter, Letter, Origin
from helicase.common.kafka import AsyncProducer
from helicase.sink import metrics
from helicase.sink.batching import Batch, DeadLetter, Record, build_batch
from helicase.sink.recorder import RecordFn, store_isolating_rejects

log = logging.getLogger(__name__)


def to_record(message: Message) -> Record:
    return Record(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
    )


def _letter(dead: DeadLetter) -> Letter:
    record = dead.record
    extra = {"helicase-dlq-event-id": dead.event_id} if dead.event_id else {}
    origin = Origin(record.topic, record.partition, record.offset, extra)
    return Letter(record.key, record.value, dead.reason, origin)


class Sink:
    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: AsyncProducer,
        record: RecordFn,
        batch_size: int,
        linger: float,
        batch_bytes: int = 4 * 2**20,
    ) -> None:
        self._consumer = consumer
        self._dead_letters = DeadLetterWriter(producer, "sink")
        self._record = record
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._linger = linger
        # The consumer is not thread-safe: every call to it goes through this one thread.
        self._kafka_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-consumer")
        self._stopping = asyncio.Event()
        self.stored = 0

    def _take_batch(self) -> list[Message]:
        """Waits (up to a second, so shutdown is noticed) for a first message, then lingers for
        more until the batch is full or the linger has passed."""
        first = self._consumer.poll(1.0)
        if first is None:
            return []
        if self._batch_size == 1:
            return [first]
        return [first, *self._consumer.consume(self._batch_size - 1, self._linger)]

    async def _poll(self) -> list[Record]:
        loop = asyncio.get_running_loop()
        messages = await loop.run_in_executor(self._kafka_thread, self._take_batch)
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning("kafka consumer error", extra={"error": str(error)})
                continue
            records.append(to_record(message))
        return records

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                records = await self._poll()
            except Exception:
                log.exception("kafka poll failed")
                await asyncio.sleep(1)
                continue
            if records:
                await self._handle_until_done(build_batch(records))

    async def _handle_until_done(self, batch: Batch) -> None:
        """Never skips a batch: anything unexpected (the dead-letter topic unreachable, say)
        retries the whole batch, which the api's idempotence makes safe."""
        backoff = 0.5
        while True:
            try:
                await self.handle(batch)
                return
            except Exception:
                log.exception("batch failed; retrying", extra={"events": len(batch.events)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def handle(self, batch: Batch) -> None:
        dead = list(batch.dead)
        if batch.events:
            rejected = await store_isolating_rejects(batch.events, self._record, self._batch_bytes)
            for index, reason in sorted(rejected.items()):
                event = batch.events[index]
                dead.append(DeadLetter(batch.sources[index], reason, event.event_id))
            self.stored += len(batch.events) - len(rejected)
            metrics.EVENTS_STORED.inc(len(batch.events) - len(rejected))
            metrics.BATCH_SIZE.observe(len(batch.events))
        if dead:
            metrics.DEAD_LETTERS.inc(len(dead))
            await self._dead_letter(dead)
        await self._commit(batch.commit)

    async def _dead_letter(self, dead: list[DeadLetter]) -> None:
        await self._dead_letters.send(topics.EVENTS_DEAD_LETTER, map(_letter, dead))

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        loop = asyncio.get_running_loop()
        try:
            # Asynchronous: the next batch need not wait for the broker's answer. A commit that
            # fails is covered by the next one (offsets only grow); a sink that dies before its
            # last commit landed re-reads those events, and the api ignores the duplicates.
            await loop.run_in_executor(
                self._kafka_thread,
                lambda: self._consumer.commit(offsets=partitions, asynchronous=True),
            )
        except Exception as exc:
            # Typically a rebalance took the partition away: its new owner re-reads from the
            # last commit and the api ignores the duplicates.
            log.warning("offset commit failed", extra={"error": str(exc)})

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._kafka_thread, self._consumer.close)
        self._kafka_thread.shutdown(wait=False)

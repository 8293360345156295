"""Reading the dead-letter topics (Kafka I/O for DeadLetterService). Bounded: one read at a time
per api process, a page of at most codec.MAX_PAGE_SIZE letters, a consumer whose prefetch is
capped, and a deadline per read."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition

from helicase.api.dead_letters.codec import KINDS, Position
from helicase.common import topics
from helicase.common.config import CommonConfig

READ_SECONDS = 10.0
"""The longest one read of the dead-letter topics takes; a page cut short says where to go on."""


@dataclass(frozen=True)
class Stored:
    """A message as a dead-letter topic holds it."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class _Range:
    kind: int
    topic: str
    partition: int
    low: int
    high: int  # the next offset to be written


class DeadLetterTopics:
    def __init__(self, config: CommonConfig) -> None:
        self._config = config
        self._gate = asyncio.Semaphore(1)

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self._config.kafka,
                # Never joins the group nor commits: partitions are assigned, not subscribed.
                "group.id": f"{self._config.topic_prefix}helicase.api-dead-letters-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "queued.max.messages.kbytes": 32 * 1024,
                "fetch.max.bytes": 24 * 2**20,
                "max.partition.fetch.bytes": 2**20,
            }
        )

    async def scan(self, kinds: list[int], start: Position | None, limit: int) -> Scan:
        """Up to `limit` messages from `start` on (kind, partition, offset order)."""
        async with self._gate:
            return await asyncio.to_thread(self._scan, kinds, start, limit)

    async def read(self, positions: list[Position]) -> list[Stored]:
        """The messages at `positions` (those that exist)."""
        async with self._gate:
            return await asyncio.to_thread(self._read, positions)

    def _ranges(self, c: Consumer, kinds: list[int]) -> list[_Range]:
        out = []
        for kind in kinds:
            name = topics.topic(self._config.topic_prefix, KINDS[kind][1])
            metadata = c.list_topics(name, timeout=5).topics.get(name)
            if metadata is None or metadata.error is not None:
                continue
            for partition in sorted(metadata.partitions):
                low, high = c.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=5, cached=False
                )
                out.append(_Range(kind, name, partition, low, high))
        return out

    def _scan(self, kinds: list[int], start: Position | None, limit: int) -> Scan:
        c = self._consumer()
        try:
            deadline = time.monotonic() + READ_SECONDS
            ranges = self._ranges(c, kinds)
            found: list[Stored] = []
            for index, r in enumerate(ranges):
                first = r.low
                if start is not None:
                    if (r.kind, r.partition) < (start.kind, start.partition):
                        continue
                    if (r.kind, r.partition) == (start.kind, start.partition):
                        first = max(r.low, start.offset)
                stop_at = _read_range(c, r, first, limit - len(found), deadline, found.append)
                if stop_at is not None:  # cut short: the page is full or time is up
                    more = stop_at < r.high or any(x.low < x.high for x in ranges[index + 1 :])
                    return Scan(found, Position(r.kind, r.partition, stop_at) if more else None)
            return Scan(found, None)
        finally:
            c.close()

    def _read(self, positions: list[Position]) -> list[Stored]:
        c = self._consumer()
        try:
            deadline = time.monotonic() + READ_SECONDS
            wanted = set(positions)
            ranges = {(r.kind, r.partition): r for r in self._ranges(c, sorted(KINDS))}
            found: list[Stored] = []
            for p in sorted(wanted):
                r = ranges.get((p.kind, p.partition))
                if r is None or not r.low <= p.offset < r.high:
                    continue
                _read_range(c, r, p.offset, 1, deadline, found.append)
            return [s for s in found if s.position in wanted]
        finally:
            c.close()


@dataclass(frozen=True)
class Scan:
    found: list[Stored]
    resume: Position | None  # where the next scan goes on; None when nothing is left


def _read_range(
    c: Consumer,
    r: _Range,
    first: int,
    limit: int,
    deadline: float,
    take: Callable[[Stored], None],
) -> int | None:
    """Reads `r` from offset `first` until its end; None once at the end, else the offset to go
    on from (having taken `limit` messages, or the deadline having passed)."""
    if first >= r.high:
        return None
    if limit <= 0:
        return first
    c.assign([TopicPartition(r.topic, r.partition, first)])
    taken = 0
    next_offset = first
    try:
        while next_offset < r.high:
            if taken >= limit or time.monotonic() > deadline:
                return next_offset
            message: Message | None = c.poll(0.2)
            if message is None or message.error() is not None:
                continue
            offset = message.offset() or 0
            next_offset = offset + 1
            position = Position(r.kind, r.partition, offset)
            take(Stored(position, message.key(), message.value(), _headers(message)))
            taken += 1
        return None
    finally:
        c.unassign()


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]

"""Turning polled Kafka records into a batch of events, and the offsets it lets us commit (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from helicase.internal.v1 import event_pb2


@dataclass(frozen=True)
class Record:
    """One Kafka message as the sink sees it (decoupled from confluent-kafka for tests)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class DeadLetter:
    """A message that can never be stored, and why."""

    record: Record
    reason: str
    event_id: str = ""


@dataclass
class Batch:
    events: list[event_pb2.Event] = field(default_factory=list)
    sources: list[Record] = field(default_factory=list)  # sources[i] carried events[i]
    dead: list[DeadLetter] = field(default_factory=list)
    commit: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset per partition


def build_batch(records: Iterable[Record]) -> Batch:
    """Decodes records into events; undecodable ones become dead letters. Every record, good or
    bad, advances its partition's commit offset."""
    batch = Batch()
    for record in records:
        where = (record.topic, record.partition)
        batch.commit[where] = max(batch.commit.get(where, 0), record.offset + 1)
        event, problem = decode(record.value)
        if event is None:
            batch.dead.append(DeadLetter(record, problem))
            continue
        batch.events.append(event)
        batch.sources.append(record)
    return batch


def decode(value: bytes | None) -> tuple[event_pb2.Event | None, str]:
    if not value:
        return None, "empty message"
    event = event_pb2.Event()
    try:
        event.ParseFromString(value)
    except DecodeError as exc:
        return None, f"not a helicase.internal.v1.Event: {exc}"
    if not event.event_id:
        return None, "event has no event_id"
    return event, ""


_INDEX = re.compile(r"^events\[(\d+)\]")


def blamed_indices(fields: Iterable[str], size: int) -> set[int]:
    """Indices of the events that an INVALID_ARGUMENT's field violations name
    ("events[3].workflow_id"); empty when they name none we can use."""
    out: set[int] = set()
    for name in fields:
        match = _INDEX.match(name)
        if match and int(match.group(1)) < size:
            out.add(int(match.group(1)))
    return out


def framed_size(event: event_pb2.Event) -> int:
    """The bytes `event` takes inside a RecordEventsRequest (its field tag and length too)."""
    size = event.ByteSize()
    return size + 1 + (size.bit_length() + 6) // 7


def by_bytes(sizes: Iterable[int], max_bytes: int) -> list[list[int]]:
    """The indices of `sizes`, in order, cut into runs of at most `max_bytes` in total; an item
    bigger than `max_bytes` makes a run of its own."""
    runs: list[list[int]] = []
    run: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if run and total + size > max_bytes:
            runs.append(run)
            run, total = [], 0
        run.append(index)
        total += size
    if run:
        runs.append(run)
    return runs


def halves(items: list[int]) -> tuple[list[int], list[int]]:
    middle = len(items) // 2
    return items[:middle], items[middle:]

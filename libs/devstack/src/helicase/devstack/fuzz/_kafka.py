"""Garbage on the suite's Kafka topics: raw garbage bytes, and messages of each topic's own type
(helicase.internal.v1.Event on the event topics, Command on the command topic) filled with
hostile values by the same strategies as the public requests. Every topic of
helicase.common.topics is covered, so a topic added there is fuzzed too."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException, Producer
from hypothesis import strategies as st

from helicase.common import topics
from helicase.devstack.fuzz._hostile import Budget
from helicase.devstack.fuzz._messages import MessageStrategies, sample
from helicase.devstack.fuzz._rawbytes import garbage
from helicase.internal.v1 import command_pb2, event_pb2

TOPIC_TYPES = {topics.COMMANDS: command_pb2.Command.DESCRIPTOR}
"""The message type a topic carries; the others carry events."""


def topic_names() -> list[str]:
    """Every topic of the suite (unprefixed)."""
    return sorted(topics.PARTITIONS)


def kafka_values(
    topic: str, budget: Budget, messages: MessageStrategies
) -> st.SearchStrategy[bytes]:
    """What may land on `topic`: garbage, or a hostile message of the topic's type."""
    desc = TOPIC_TYPES.get(topic, event_pb2.Event.DESCRIPTOR)
    shaped = messages.of(desc).map(lambda msg: msg.SerializeToString())
    return st.one_of(garbage(budget), shaped)


Garbage = tuple[str, bytes, bytes | None]
"""A message for a topic: (topic, value, key)."""
KEYS: tuple[bytes | None, ...] = (None, b"", b"\xff\xfe", b"x" * 1000, b"wf-1")


def garbage_batch(
    budget: Budget, messages: MessageStrategies, per_topic: int, seed: int
) -> list[Garbage]:
    """`per_topic` garbage messages for each topic, with odd keys."""
    out: list[Garbage] = []
    for topic in topic_names():
        values = sample(kafka_values(topic, budget, messages), per_topic, seed) if per_topic else []
        out += [(topic, value, KEYS[i % len(KEYS)]) for i, value in enumerate(values)]
    return out


def produce(bootstrap: str, prefix: str, batch: Iterable[Garbage]) -> int:
    """Sends each (topic, value, key) of `batch` to `prefix`+topic and waits until Kafka has
    them all; returns how many were sent."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": topics.MAX_MESSAGE_BYTES}
    )
    sent = 0
    for topic, value, key in batch:
        try:
            producer.produce(topics.topic(prefix, topic), value=value, key=key)
        except KafkaException as err:
            # The broker refuses what is over its topic's size limit: nothing reaches a
            # consumer, so there is nothing to test (it ended a 100,000-request run).
            if err.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            continue
        producer.poll(0)
        sent += 1
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{left} garbage messages not delivered to Kafka")
    return sent

"""Dead letters: a message a consumer can never process is parked on a dead-letter topic, with
why and where it came from as Kafka headers, so that the messages behind it flow on and an
operator can list and replay it (helicase.v1.DeadLetterService)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from helicase.common import topics
from helicase.common.kafka import AsyncProducer

log = logging.getLogger(__name__)

REASON = "helicase-dlq-reason"
ORIGIN_TOPIC = "helicase-dlq-origin-topic"
"""The topic the message was read from (as named on the broker, prefix included); empty for a
message that came from no topic (a participant's stream)."""
ORIGIN_PARTITION = "helicase-dlq-origin-partition"
ORIGIN_OFFSET = "helicase-dlq-origin-offset"
TIME = "helicase-dlq-time"
"""When it was dead-lettered, in milliseconds since the epoch."""
CONSUMER = "helicase-dlq-consumer"
"""Which consumer gave up on it ("sink", "scheduler", "controller")."""
PARTICIPANT = "helicase-dlq-participant"
"""For a participant's message: the participant ("<group>/<name>", as its certificate says)."""
TRUNCATED_FROM = "helicase-dlq-truncated-from"
"""Set on a letter whose value was cut to fit the dead-letter topic: the value's real size. Such a
letter is listed, never replayed."""
MAX_REASON_CHARS = 2000
"""A reason longer than this is cut (a reason can quote what it refuses)."""
MAX_VALUE_BYTES = topics.MAX_MESSAGE_BYTES - 2**16
"""The most of a value a letter keeps: room is left for its headers under the topic's limit."""


@dataclass(frozen=True)
class Origin:
    """Where a dead letter came from: a topic's partition and offset (-1 when none)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1
    extra: Mapping[str, str] = field(default_factory=dict)


def cut(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def headers(
    reason: str, origin: Origin, consumer: str, now_ms: int | None = None
) -> list[tuple[str, str | bytes | None]]:
    """The headers of a dead letter."""
    when = int(time.time() * 1000) if now_ms is None else now_ms
    out: list[tuple[str, str | bytes | None]] = [
        (REASON, cut(reason).encode()),
        (ORIGIN_TOPIC, origin.topic.encode()),
        (ORIGIN_PARTITION, str(origin.partition).encode()),
        (ORIGIN_OFFSET, str(origin.offset).encode()),
        (TIME, str(when).encode()),
        (CONSUMER, consumer.encode()),
    ]
    out.extend((k, v.encode()) for k, v in origin.extra.items())
    return out


def read_headers(raw: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """A dead letter's headers as text (the last of a repeated name wins)."""
    return {k: (v or b"").decode(errors="replace") for k, v in raw or ()}


@dataclass(frozen=True)
class Letter:
    """One message to park: its key and value as they were, why, and where from."""

    key: bytes | None
    value: bytes | None
    reason: str
    origin: Origin


class DeadLetterWriter:
    """Parks messages on a dead-letter topic for `consumer`; each one is logged as an error."""

    def __init__(self, producer: AsyncProducer, consumer: str) -> None:
        self._producer = producer
        self._consumer = consumer

    async def send(self, topic: str, letters: Iterable[Letter]) -> None:
        """Resolves once the broker has every letter (raises if one could not be written)."""
        futures = []
        for letter in letters:
            log.error(
                "message can never be processed; sent to the dead-letter topic",
                extra={
                    "dead_letter_topic": topic,
                    "reason": cut(letter.reason),
                    "topic": letter.origin.topic,
                    "partition": letter.origin.partition,
                    "offset": letter.origin.offset,
                    **letter.origin.extra,
                },
            )
            value = letter.value or b""
            parked = headers(letter.reason, letter.origin, self._consumer)
            if len(value) > MAX_VALUE_BYTES:
                parked.append((TRUNCATED_FROM, str(len(value)).encode()))
                value = value[:MAX_VALUE_BYTES]
            futures.append(
                self._producer.send_nowait(topic, (letter.key or b"")[:4096], value, headers=parked)
            )
        for future in futures:
            await future

"""Kafka topic and consumer-group names, prefixed per suite by HELICASE_TOPIC_PREFIX."""

from __future__ import annotations

COMMANDS = "helicase.commands"
EVENTS = "helicase.events"
EVENTS_DEAD_LETTER = "helicase.events.dlq"
PARTITIONS = {COMMANDS: 4, EVENTS: 4, EVENTS_DEAD_LETTER: 1}
MAX_MESSAGE_BYTES = 20 * 2**20
"""Largest message on our topics (and what producers may send): a launch command carries the
whole definition, up to the api's 8 MiB, uncompressed. Kafka's default is 1 MB."""
TOPIC_CONFIG = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}


def topic(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def group(prefix: str, name: str) -> str:
    return f"{prefix}helicase.{name}"

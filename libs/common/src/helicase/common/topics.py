"""Kafka topic and consumer-group names, prefixed per suite by HELICASE_TOPIC_PREFIX."""

from __future__ import annotations

COMMANDS = "helicase.commands"
EVENTS = "helicase.events"
EVENTS_DEAD_LETTER = "helicase.events.dlq"
PARTITIONS = {COMMANDS: 4, EVENTS: 4, EVENTS_DEAD_LETTER: 1}


def topic(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def group(prefix: str, name: str) -> str:
    return f"{prefix}helicase.{name}"

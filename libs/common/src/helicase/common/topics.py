"""Kafka topic and consumer-group names, prefixed per suite by HELICASE_TOPIC_PREFIX."""

from __future__ import annotations

COMMANDS = "helicase.commands"
EVENTS = "helicase.events"
EVENTS_DEAD_LETTER = "helicase.events.dlq"
COMMANDS_DEAD_LETTER = "helicase.commands.dlq"
PARTICIPANTS_DEAD_LETTER = "helicase.participants.dlq"
"""Participants' stream messages the controller could not read (they come from no topic)."""
DEAD_LETTER_TOPICS = (EVENTS_DEAD_LETTER, COMMANDS_DEAD_LETTER, PARTICIPANTS_DEAD_LETTER)
PARTITIONS = {
    COMMANDS: 4,
    EVENTS: 4,
    EVENTS_DEAD_LETTER: 1,
    COMMANDS_DEAD_LETTER: 1,
    PARTICIPANTS_DEAD_LETTER: 1,
}
MAX_MESSAGE_BYTES = 20 * 2**20
"""Largest message on our topics (and what producers may send): a launch command carries the
whole definition, up to the api's 8 MiB, uncompressed. Kafka's default is 1 MB."""
TOPIC_CONFIG = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}


def topic(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def group(prefix: str, name: str) -> str:
    return f"{prefix}helicase.{name}"

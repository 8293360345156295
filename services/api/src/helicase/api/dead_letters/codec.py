"""The pure side of DeadLetterService: kinds and their topics, letter ids, page tokens, and a
Kafka message turned into a DeadLetter."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from google.protobuf import timestamp_pb2

from helicase.common import deadletter, topics
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import dead_letter_pb2

Kind = dead_letter_pb2.DeadLetterKind
KINDS: dict[int, tuple[str, str]] = {
    dead_letter_pb2.DEAD_LETTER_KIND_EVENTS: ("events", topics.EVENTS_DEAD_LETTER),
    dead_letter_pb2.DEAD_LETTER_KIND_COMMANDS: ("commands", topics.COMMANDS_DEAD_LETTER),
    dead_letter_pb2.DEAD_LETTER_KIND_PARTICIPANT_MESSAGES: (
        "participants",
        topics.PARTICIPANTS_DEAD_LETTER,
    ),
}
"""Each kind: its short name (in letter ids) and its dead-letter topic (unprefixed)."""
_BY_SHORT = {short: kind for kind, (short, _) in KINDS.items()}
REPLAYABLE = frozenset({topics.EVENTS, topics.COMMANDS})
"""The only topics a letter is ever re-published to."""

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PREVIEW_BYTES = 1024
MAX_REPLAY_IDS = 1000
MAX_REPLAY_ALL = 10_000


@dataclass(frozen=True, order=True)
class Position:
    """Where a letter is, or where a listing goes on: a kind, a partition, an offset."""

    kind: int
    partition: int
    offset: int


def kinds_of(kind: int) -> list[int]:
    """The kinds a filter covers, in listing order; InvalidArgument for an unknown kind."""
    if kind == dead_letter_pb2.DEAD_LETTER_KIND_UNSPECIFIED:
        return sorted(KINDS)
    if kind not in KINDS:
        raise InvalidArgument([FieldViolation("kind", f"unknown kind {kind}")])
    return [kind]


def letter_id(position: Position) -> str:
    return f"{KINDS[position.kind][0]}/{position.partition}/{position.offset}"


def parse_letter_id(raw: str) -> Position | None:
    parts = raw.split("/")
    if len(parts) != 3 or parts[0] not in _BY_SHORT:
        return None
    try:
        partition, offset = int(parts[1]), int(parts[2])
    except ValueError:
        return None
    if partition < 0 or offset < 0:
        return None
    return Position(_BY_SHORT[parts[0]], partition, offset)


def check_page_size(page_size: int) -> int:
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument([FieldViolation("page_size", f"must be 0..{MAX_PAGE_SIZE}")])
    return page_size or DEFAULT_PAGE_SIZE


def encode_token(position: Position, kind_filter: int) -> str:
    body = [kind_filter, position.kind, position.partition, position.offset]
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def decode_token(token: str, kind_filter: int, field: str = "page_token") -> Position | None:
    """The position a token goes on from (None for ""); InvalidArgument naming `field` for a
    token this API did not make, or made for another filter."""
    if not token:
        return None
    try:
        made_for, kind, partition, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
        position = Position(int(kind), int(partition), int(offset))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidArgument([FieldViolation(field, "is not a token from this API")]) from exc
    if made_for != kind_filter or position.kind not in KINDS:
        raise InvalidArgument(
            [FieldViolation(field, "was made for another kind; start again without it")]
        )
    return position


def to_letter(
    position: Position,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None,
) -> dead_letter_pb2.DeadLetter:
    """A dead-letter topic's message as a DeadLetter (a bounded preview of its value)."""
    h = deadletter.read_headers(headers)
    letter = dead_letter_pb2.DeadLetter(
        id=letter_id(position),
        kind=position.kind,  # type: ignore[arg-type]
        offset=position.offset,
        origin_topic=h.get(deadletter.ORIGIN_TOPIC, ""),
        origin_partition=_int(h.get(deadletter.ORIGIN_PARTITION)),
        origin_offset=_int(h.get(deadletter.ORIGIN_OFFSET)),
        reason=h.get(deadletter.REASON, "")[: deadletter.MAX_REASON_CHARS],
        consumer=h.get(deadletter.CONSUMER, ""),
        participant=h.get(deadletter.PARTICIPANT, ""),
        key=(key or b"")[:PREVIEW_BYTES],
        value_size=max(len(value or b""), _int(h.get(deadletter.TRUNCATED_FROM))),
        value_preview=(value or b"")[:PREVIEW_BYTES],
    )
    when = _int(h.get(deadletter.TIME))
    if when >= 0:
        letter.dead_letter_time.CopyFrom(_timestamp(when))
    return letter


def replay_topic(origin_topic: str, prefix: str) -> str | None:
    """The (unprefixed) topic a letter goes back to; None when it came from no topic, from
    another suite's topic, or from a topic letters are never replayed to."""
    if not origin_topic.startswith(prefix):
        return None
    name = origin_topic[len(prefix) :]
    return name if name in REPLAYABLE else None


def _int(raw: str | None) -> int:
    try:
        return int(raw) if raw is not None else -1
    except ValueError:
        return -1


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(ms)
    return ts

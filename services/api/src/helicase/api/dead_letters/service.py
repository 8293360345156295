"""DeadLetterService's handlers. The auth interceptor has let only platform admins through
(policy table); the dead-letter topics belong to no tenant."""

from __future__ import annotations

import asyncio

from helicase.api.dead_letters import codec
from helicase.api.dead_letters.codec import Position
from helicase.api.dead_letters.topics import DeadLetterTopics, Stored
from helicase.api.errors import Context
from helicase.common import deadletter
from helicase.common.errors import FieldViolation, InvalidArgument, NotFound
from helicase.common.kafka import AsyncProducer
from helicase.v1 import dead_letter_pb2, dead_letter_pb2_grpc

REPLAY_CHUNK = 100


class DeadLetterService(dead_letter_pb2_grpc.DeadLetterServiceServicer):
    def __init__(self, letters: DeadLetterTopics, producer: AsyncProducer, prefix: str) -> None:
        self._letters = letters
        self._producer = producer
        self._prefix = prefix

    async def ListDeadLetters(
        self, request: dead_letter_pb2.ListDeadLettersRequest, context: Context
    ) -> dead_letter_pb2.ListDeadLettersResponse:
        kinds = codec.kinds_of(request.kind)
        size = codec.check_page_size(request.page_size)
        start = codec.decode_token(request.page_token, request.kind)
        scan = await self._letters.scan(kinds, start, size)
        return dead_letter_pb2.ListDeadLettersResponse(
            dead_letters=[
                codec.to_letter(s.position, s.key, s.value, s.headers) for s in scan.found
            ],
            next_page_token=(
                codec.encode_token(scan.resume, request.kind) if scan.resume is not None else ""
            ),
        )

    async def ReplayDeadLetters(
        self, request: dead_letter_pb2.ReplayDeadLettersRequest, context: Context
    ) -> dead_letter_pb2.ReplayDeadLettersResponse:
        if request.ids:
            return await self._replay_chosen(list(request.ids))
        if request.kind == dead_letter_pb2.DEAD_LETTER_KIND_UNSPECIFIED:
            raise InvalidArgument([FieldViolation("kind", "is required when ids is empty")])
        kinds = codec.kinds_of(request.kind)
        start = codec.decode_token(request.resume_token, request.kind, "resume_token")
        response = dead_letter_pb2.ReplayDeadLettersResponse()
        done = 0
        while done < codec.MAX_REPLAY_ALL:
            scan = await self._letters.scan(
                kinds, start, min(REPLAY_CHUNK, codec.MAX_REPLAY_ALL - done)
            )
            await self._publish(scan.found, response)
            done += len(scan.found)
            start = scan.resume
            if start is None:
                return response
        assert start is not None
        response.next_resume_token = codec.encode_token(start, request.kind)
        return response

    async def _replay_chosen(self, ids: list[str]) -> dead_letter_pb2.ReplayDeadLettersResponse:
        if len(ids) > codec.MAX_REPLAY_IDS:
            raise InvalidArgument([FieldViolation("ids", f"at most {codec.MAX_REPLAY_IDS}")])
        positions: dict[Position, str] = {}
        violations = []
        for index, raw in enumerate(ids):
            position = codec.parse_letter_id(raw)
            if position is None:
                violations.append(FieldViolation(f"ids[{index}]", "is not a dead letter id"))
            else:
                positions[position] = raw
        if violations:
            raise InvalidArgument(violations)
        found = await self._letters.read(sorted(positions))
        missing = sorted(set(positions) - {s.position for s in found})
        if missing:
            raise NotFound(f"no dead letter {', '.join(positions[p] for p in missing)}")
        response = dead_letter_pb2.ReplayDeadLettersResponse()
        await self._publish(found, response)
        return response

    async def _publish(
        self, letters: list[Stored], response: dead_letter_pb2.ReplayDeadLettersResponse
    ) -> None:
        sends = []
        for letter in letters:
            parked = deadletter.read_headers(letter.headers)
            topic = codec.replay_topic(parked.get(deadletter.ORIGIN_TOPIC, ""), self._prefix)
            if topic is None or deadletter.TRUNCATED_FROM in parked:
                response.skipped_count += 1
                continue
            sends.append(self._producer.send_nowait(topic, letter.key or b"", letter.value or b""))
            response.replayed_count += 1
        await asyncio.gather(*sends)

"""Typed calls of DeadLetterService (platform admin only), mixed into HelicaseClient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias, TypeVar

import grpc

from helicase.v1 import dead_letter_pb2, dead_letter_pb2_grpc

T = TypeVar("T")
Kind: TypeAlias = dead_letter_pb2.DeadLetterKind.ValueType
EVERY_KIND = dead_letter_pb2.DEAD_LETTER_KIND_UNSPECIFIED


class DeadLetterCalls:
    """Listing and replaying the dead-letter topics. Needs the host class to provide `_call`
    (retries) and `_timeout` (deadline, seconds)."""

    _timeout: float

    def _open_dead_letter_stub(self, ch: grpc.aio.Channel) -> None:
        self._dead_letters = dead_letter_pb2_grpc.DeadLetterServiceStub(ch)

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def list_dead_letters(
        self,
        kind: Kind = EVERY_KIND,
        page_size: int = 0,
        page_token: str = "",
    ) -> dead_letter_pb2.ListDeadLettersResponse:
        request = dead_letter_pb2.ListDeadLettersRequest(
            kind=kind, page_size=page_size, page_token=page_token
        )
        response: dead_letter_pb2.ListDeadLettersResponse = await self._call(
            lambda: self._dead_letters.ListDeadLetters(request, timeout=self._timeout)
        )
        return response

    async def replay_dead_letters(
        self,
        ids: Sequence[str] = (),
        kind: Kind = EVERY_KIND,
        resume_token: str = "",
    ) -> dead_letter_pb2.ReplayDeadLettersResponse:
        """Re-publishes `ids`, or (with no ids) every letter of `kind`; a whole kind past the
        per-call bound comes back with a next_resume_token to call again with."""
        request = dead_letter_pb2.ReplayDeadLettersRequest(
            ids=list(ids), kind=kind, resume_token=resume_token
        )
        response: dead_letter_pb2.ReplayDeadLettersResponse = await self._call(
            lambda: self._dead_letters.ReplayDeadLetters(request, timeout=self._timeout)
        )
        return response

"""Coalescing what is queued for a gRPC stream into one message: on a busy stream the per-message
cost (Python and gRPC's) is paid once per batch instead of once per message."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, TypeVar


class _Sized(Protocol):
    def ByteSize(self) -> int: ...


M = TypeVar("M", bound=_Sized)

MAX_BATCH_BYTES = 1 << 20  # well under gRPC's default 4 MiB message limit


def take_queued(first: M, queue: asyncio.Queue[Any], max_bytes: int = MAX_BATCH_BYTES) -> list[M]:
    """`first` and whatever else is queued already, without waiting, until about `max_bytes`. A
    None in the queue (the stream's end) stays in it, to be seen after this batch went out."""
    messages: list[M] = [first]
    size = first.ByteSize()
    while size < max_bytes and not queue.empty():
        message = queue.get_nowait()
        if message is None:
            queue.put_nowait(None)
            break
        messages.append(message)
        size += message.ByteSize()
    return messages

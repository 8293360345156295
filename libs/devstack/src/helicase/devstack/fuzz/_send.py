"""Sending one fuzz request and reading its answer as a status code name: over gRPC (a generic
method with identity serializers, so any bytes can be the request) and over the api's HTTP port
(Connect, JSON codec)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc

from helicase.devstack.fuzz._findings import connect_code
from helicase.devstack.fuzz._rpcs import Rpc

STREAM_READ = 3  # answers read from a server stream before it is cancelled


@dataclass(frozen=True)
class Answer:
    code: str  # a gRPC status name
    message: str
    body: bytes = b""  # a unary call's response, serialized (OK only)


async def grpc_call(
    channel: grpc.aio.Channel, rpc: Rpc, payload: bytes, token: str, deadline: float
) -> Answer:
    """Sends `payload` as the request of `rpc` with `token`; a stream is read a little, then
    cancelled (its first answers prove it started)."""
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        if rpc.server_streaming:
            call = channel.unary_stream(rpc.path)(payload, timeout=deadline, metadata=metadata)
            read = 0
            try:
                async for _ in call:
                    read += 1
                    if read >= STREAM_READ:
                        break
            finally:
                call.cancel()
            return Answer("OK", "")
        body = await channel.unary_unary(rpc.path)(payload, timeout=deadline, metadata=metadata)
        return Answer("OK", "", body)
    except grpc.aio.AioRpcError as exc:
        return Answer(exc.code().name, exc.details() or "")


async def connect_call(
    http: aiohttp.ClientSession, base: str, rpc: Rpc, body: bytes, token: str, deadline: float
) -> Answer:
    """POSTs `body` (JSON, or garbage) to `rpc` on the api's HTTP port as Connect does."""
    headers = {"Authorization": f"Bearer {token}", "Connect-Protocol-Version": "1"}
    if rpc.server_streaming:
        headers["Content-Type"] = "application/connect+json"
        body = struct.pack(">BI", 0, len(body)) + body
    else:
        headers["Content-Type"] = "application/json"
    async with http.post(
        base + rpc.path, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=deadline)
    ) as resp:
        raw = await resp.read()
        if rpc.server_streaming:
            error = _end_stream_error(raw)
        else:
            error = _json(raw) if resp.status >= 400 else None
    code = connect_code(resp.status, str(error.get("code", "")) if error else None)
    return Answer(
        code, str(error.get("message", "")) if error else raw[:200].decode(errors="replace")
    )


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _end_stream_error(raw: bytes) -> dict[str, Any] | None:
    """The error of a Connect stream's end-stream frame (flag 0x02), if any."""
    while len(raw) >= 5:
        flags, size = struct.unpack(">BI", raw[:5])
        frame, raw = raw[5 : 5 + size], raw[5 + size :]
        if flags & 0x02:
            end = _json(frame) or {}
            error = end.get("error")
            return error if isinstance(error, dict) else None
    return None

"""The api's one error mapping: what a handler raises becomes the same status for a unary call
and for a stream, with BadRequest details for InvalidArgument."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from helicase.api.errors import ErrorMappingInterceptor
from helicase.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from helicase.common.status import field_violations
from helicase.devstack.fuzz import nested
from helicase.v1 import workflow_service_pb2

ERRORS: dict[str, tuple[Callable[[], Exception], grpc.StatusCode]] = {
    "invalid": (
        lambda: InvalidArgument([FieldViolation("page_size", "must be 0..500")]),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "missing": (lambda: NotFound("workflow 'x' not found"), grpc.StatusCode.NOT_FOUND),
    "late": (lambda: FailedPrecondition("already COMPLETED"), grpc.StatusCode.FAILED_PRECONDITION),
    "db": (
        lambda: OperationalError("SELECT 1", {}, Exception("down")),
        grpc.StatusCode.UNAVAILABLE,
    ),
}


def _raw(data: bytes) -> bytes:
    return data


async def _unary(request: bytes, context: Any) -> bytes:
    raise ERRORS[request.decode()][0]()


async def _stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    raise ERRORS[request.decode()][0]()


@asynccontextmanager
async def _serving(
    unary: Any, stream: Any, parse: Any, admit: Any = None
) -> AsyncIterator[grpc.aio.Channel]:
    """A server with the error mapping serving /t.T/Unary and /t.T/Stream (requests made by
    `parse`), and a channel to it."""
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor(admit)])
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, parse, _raw),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, parse, _raw),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_unary_and_streaming_calls_map_a_raised_error_to_the_same_status(kind: str) -> None:
    async with _serving(_unary, _stream, _raw) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await channel.unary_unary("/t.T/Unary", _raw, _raw)(kind.encode())
        call = channel.unary_stream("/t.T/Stream", _raw, _raw)(kind.encode())
        seen = []
        with pytest.raises(grpc.aio.AioRpcError) as stream:
            async for item in call:
                seen.append(item)
    expected = ERRORS[kind][1]
    assert seen == [b"first"]
    for caught in (unary.value, stream.value):
        assert caught.code() == expected
        if kind == "invalid":
            assert field_violations(caught) == [FieldViolation("page_size", "must be 0..500")]
    assert unary.value.details() == stream.value.details()


async def _echo_id(request: workflow_service_pb2.GetWorkflowRequest, context: Any) -> bytes:
    return request.id.encode()


async def _stream_id(
    request: workflow_service_pb2.GetWorkflowRequest, context: Any
) -> AsyncIterator[bytes]:
    yield request.id.encode()


@pytest.mark.parametrize(
    "garbage",
    [b"\x0a\x02\xff\xfe", b"\x0a\x05ab", b"\x0f", b"\x0b", nested(150)],
    ids=["bad-utf8", "truncated", "wire-type-7", "open-group", "too-deep"],
)
async def test_bytes_that_are_no_request_are_invalid_argument_and_a_request_still_parses(
    garbage: bytes,
) -> None:
    valid = workflow_service_pb2.GetWorkflowRequest(id="wf-1").SerializeToString()
    parse = workflow_service_pb2.GetWorkflowRequest.FromString
    async with _serving(_echo_id, _stream_id, parse) as channel:
        unary = channel.unary_unary("/t.T/Unary", _raw, _raw)
        stream = channel.unary_stream("/t.T/Stream", _raw, _raw)
        assert await unary(valid) == b"wf-1"
        assert [item async for item in stream(valid)] == [b"wf-1"]
        with pytest.raises(grpc.aio.AioRpcError) as unary_error:
            await unary(garbage)
        with pytest.raises(grpc.aio.AioRpcError) as stream_error:
            _ = [item async for item in stream(garbage)]
    for caught in (unary_error.value, stream_error.value):
        assert caught.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.details()
        assert "not a valid request message" in (caught.details() or "")


async def test_an_unparsable_request_from_a_caller_not_admitted_is_unauthenticated() -> None:
    """A caller without a valid token learns that, not whether its bytes parse."""
    asked: list[str] = []

    async def admit(method: str, context: Any) -> None:
        asked.append(method)
        raise Unauthenticated("no token")

    parse = workflow_service_pb2.GetWorkflowRequest.FromString
    async with _serving(_echo_id, _stream_id, parse, admit) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as unary_error:
            await channel.unary_unary("/t.T/Unary", _raw, _raw)(b"\x0f")
        with pytest.raises(grpc.aio.AioRpcError) as stream_error:
            _ = [item async for item in channel.unary_stream("/t.T/Stream", _raw, _raw)(b"\x0f")]
    assert unary_error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stream_error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert asked == ["/t.T/Unary", "/t.T/Stream"]

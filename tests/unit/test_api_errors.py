"""The api's one error mapping: what a handler raises becomes the same status for a unary call
and for a stream, with BadRequest details for InvalidArgument."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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
)
from helicase.common.status import field_violations

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


@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_unary_and_streaming_calls_map_a_raised_error_to_the_same_status(kind: str) -> None:
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary, _raw, _raw),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream, _raw, _raw),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await channel.unary_unary("/t.T/Unary", _raw, _raw)(kind.encode())
            call = channel.unary_stream("/t.T/Stream", _raw, _raw)(kind.encode())
            seen = []
            with pytest.raises(grpc.aio.AioRpcError) as stream:
                async for item in call:
                    seen.append(item)
    finally:
        await server.stop(None)
    expected = ERRORS[kind][1]
    assert seen == [b"first"]
    for caught in (unary.value, stream.value):
        assert caught.code() == expected
        if kind == "invalid":
            assert field_violations(caught) == [FieldViolation("page_size", "must be 0..500")]
    assert unary.value.details() == stream.value.details()

"""The api's HTTP port: the Connect codec (frames, errors, the method table) and its set-up."""

from __future__ import annotations

import base64
import json
import socket

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from helicase.api import connect, web
from helicase.api.web import grpc_target
from helicase.v1 import workflow_service_pb2


def test_envelope_round_trip_and_end_stream_frame() -> None:
    framed = connect.envelope(b'{"id":"x"}')
    assert framed[:5] == b"\x00\x00\x00\x00\x0a"
    assert connect.first_envelope(framed) == b'{"id":"x"}'
    end = connect.end_stream(None)
    assert end[0] == connect.FLAG_END_STREAM and json.loads(end[5:]) == {}


def test_truncated_or_compressed_frame_is_refused() -> None:
    with pytest.raises(connect.ProtocolError):
        connect.first_envelope(b"\x00\x00\x00\x00\x09{}")
    with pytest.raises(connect.ProtocolError) as err:
        connect.first_envelope(b"\x01\x00\x00\x00\x02{}")
    assert err.value.code == grpc.StatusCode.UNIMPLEMENTED


def test_error_json_names_the_code_and_renders_bad_request() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="f", description="d")]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    out = connect.error_json(grpc.StatusCode.INVALID_ARGUMENT, "bad", [packed])
    assert out["code"] == "invalid_argument"
    [detail] = out["details"]
    assert detail["type"] == "google.rpc.BadRequest"
    padded = detail["value"] + "=" * (-len(detail["value"]) % 4)
    assert base64.b64decode(padded) == bad.SerializeToString()
    assert detail["debug"] == {"fieldViolations": [{"field": "f", "description": "d"}]}
    assert connect.http_status(grpc.StatusCode.CANCELLED) == 499
    assert connect.error_json(grpc.StatusCode.CANCELLED, "")["code"] == "canceled"


def test_methods_cover_unary_and_server_streaming() -> None:
    service = workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"]
    methods = connect.methods_of([service])
    watch = methods["/helicase.v1.WorkflowService/WatchWorkflow"]
    assert watch.server_streaming
    assert not methods["/helicase.v1.WorkflowService/GetWorkflow"].server_streaming
    request = connect.decode_json(watch.request, b'{"id": "w"}')
    assert request == workflow_service_pb2.WatchWorkflowRequest(id="w")
    assert connect.parse_timeout("1500") == 1.5 and connect.parse_timeout("x") is None


def test_grpc_target_reaches_a_wildcard_listener_on_loopback() -> None:
    assert grpc_target("0.0.0.0:50051", 50051) == "127.0.0.1:50051"
    assert grpc_target("[::]:0", 41234) == "127.0.0.1:41234"
    assert grpc_target("127.0.0.1:0", 41234) == "127.0.0.1:41234"


async def test_a_taken_web_port_fails_with_the_variable_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="HELICASE_WEB_ADDR"):
            engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
            try:
                await web.start(
                    f"127.0.0.1:{port}", "127.0.0.1:1", [], engine, web.WebSettings(), dist=None
                )
            finally:
                await engine.dispose()

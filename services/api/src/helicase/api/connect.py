"""The Connect protocol (JSON codec) as the browser speaks it: pure encoding, no I/O.

Unary calls are a POST of one JSON message answered by one JSON message (or a JSON error with
an HTTP status); server-streaming calls carry enveloped frames (1 flag byte, 4-byte big-endian
length, payload) and end with an end-stream frame (flag 0x02) holding the error, if any.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, descriptor, json_format, message, symbol_database
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2, status_pb2

# The error-detail types the gateway can render as readable JSON ("debug") besides their bytes.
_DETAIL_TYPES: dict[str, type[message.Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        error_details_pb2.BadRequest,
        error_details_pb2.ErrorInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.PreconditionFailure,
    )
}

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
UNARY_CONTENT_TYPE = "application/json"
STREAM_CONTENT_TYPE = "application/connect+json"

# Connect's code names and HTTP statuses (connectrpc.com/docs/protocol, "Error codes").
CODES: dict[grpc.StatusCode, tuple[str, int]] = {
    grpc.StatusCode.CANCELLED: ("canceled", 499),
    grpc.StatusCode.UNKNOWN: ("unknown", 500),
    grpc.StatusCode.INVALID_ARGUMENT: ("invalid_argument", 400),
    grpc.StatusCode.DEADLINE_EXCEEDED: ("deadline_exceeded", 504),
    grpc.StatusCode.NOT_FOUND: ("not_found", 404),
    grpc.StatusCode.ALREADY_EXISTS: ("already_exists", 409),
    grpc.StatusCode.PERMISSION_DENIED: ("permission_denied", 403),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("resource_exhausted", 429),
    grpc.StatusCode.FAILED_PRECONDITION: ("failed_precondition", 400),
    grpc.StatusCode.ABORTED: ("aborted", 409),
    grpc.StatusCode.OUT_OF_RANGE: ("out_of_range", 400),
    grpc.StatusCode.UNIMPLEMENTED: ("unimplemented", 501),
    grpc.StatusCode.INTERNAL: ("internal", 500),
    grpc.StatusCode.UNAVAILABLE: ("unavailable", 503),
    grpc.StatusCode.DATA_LOSS: ("data_loss", 500),
    grpc.StatusCode.UNAUTHENTICATED: ("unauthenticated", 401),
}


class ProtocolError(Exception):
    """A request that does not follow the Connect protocol (bad framing, bad JSON)."""

    def __init__(self, code: grpc.StatusCode, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass(frozen=True)
class Method:
    """One RPC reachable from the browser."""

    path: str  # "/helicase.v1.WorkflowService/GetWorkflow"
    request: type[message.Message]
    response: type[message.Message]
    server_streaming: bool


def methods_of(services: Iterable[descriptor.ServiceDescriptor]) -> dict[str, Method]:
    """The unary and server-streaming methods of `services`, keyed by URL path."""
    out: dict[str, Method] = {}
    for service in services:
        for method in service.methods:
            if method.client_streaming:
                continue  # browsers cannot stream requests over fetch
            path = f"/{service.full_name}/{method.name}"
            out[path] = Method(
                path,
                GetMessageClass(method.input_type),
                GetMessageClass(method.output_type),
                method.server_streaming,
            )
    return out


def decode_json(cls: type[message.Message], payload: bytes) -> message.Message:
    """A request message from its proto3 JSON (unknown fields are refused, like grpcurl)."""
    try:
        return json_format.Parse(payload or b"{}", cls())
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise ProtocolError(grpc.StatusCode.INVALID_ARGUMENT, f"bad JSON request: {exc}") from exc


def encode_json(msg: message.Message) -> bytes:
    return json_format.MessageToJson(msg, indent=None).encode()


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def first_envelope(body: bytes) -> bytes:
    """The payload of the single request frame of a server-streaming call."""
    if len(body) < 5:
        raise ProtocolError(grpc.StatusCode.INVALID_ARGUMENT, "request frame is truncated")
    flags, size = struct.unpack(">BI", body[:5])
    if flags & FLAG_COMPRESSED:
        raise ProtocolError(grpc.StatusCode.UNIMPLEMENTED, "compressed frames are not supported")
    if len(body) < 5 + size:
        raise ProtocolError(grpc.StatusCode.INVALID_ARGUMENT, "request frame is truncated")
    return body[5 : 5 + size]


def parse_timeout(raw: str | None) -> float | None:
    """Connect-Timeout-Ms as seconds (None when absent or unusable)."""
    if not raw or not raw.isdigit() or len(raw) > 10:
        return None
    return int(raw) / 1000.0


def _detail(packed: any_pb2.Any) -> dict[str, Any]:
    type_name = packed.TypeName()
    out: dict[str, Any] = {
        "type": type_name,
        "value": base64.b64encode(packed.value).decode().rstrip("="),
    }
    cls = _DETAIL_TYPES.get(type_name)
    if cls is None:
        try:
            cls = symbol_database.Default().GetSymbol(type_name)
        except KeyError:
            cls = None
    if cls is not None:
        unpacked = cls()
        if packed.Unpack(unpacked):
            out["debug"] = json_format.MessageToDict(unpacked)
    return out


def error_json(
    code: grpc.StatusCode, text: str, details: Iterable[any_pb2.Any] = ()
) -> dict[str, Any]:
    """A Connect error object: {"code", "message", "details": [{"type", "value", "debug"}]}."""
    name, _ = CODES.get(code, ("unknown", 500))
    out: dict[str, Any] = {"code": name, "message": text}
    rendered = [_detail(d) for d in details]
    if rendered:
        out["details"] = rendered
    return out


def http_status(code: grpc.StatusCode) -> int:
    return CODES.get(code, ("unknown", 500))[1]


def status_details(trailing: Iterable[tuple[str, str | bytes]] | None) -> list[any_pb2.Any]:
    """The google.rpc.Status details a gRPC error carried in its trailing metadata."""
    for key, value in trailing or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status()
            status.ParseFromString(value)
            return list(status.details)
    return []


def end_stream(error: Mapping[str, Any] | None) -> bytes:
    """The end-stream frame: `{}` after success, `{"error": ...}` after a failure."""
    body = {"error": dict(error)} if error is not None else {}
    return envelope(json.dumps(body).encode(), FLAG_END_STREAM)

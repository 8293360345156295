"""OpenTelemetry traces across the services: W3C trace context in gRPC metadata, Kafka headers
and the Assignment message, spans written as JSON lines.

HELICASE_TRACE_DIR turns tracing on: each process appends its finished spans to
`<dir>/<service>-<pid>.jsonl` (one JSON object per span: trace_id, span_id, parent_id, name,
service, start and end in ns, attributes). Off by default; without it the tracer is a no-op.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from helicase.common.config import TRACE_DIR

_PROPAGATOR = TraceContextTextMapPropagator()
_enabled = False


class JsonLinesExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object per line."""

    def __init__(self, path: Path, service: str) -> None:
        self._path = path
        self._service = service
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            parent = span.parent
            if ctx is None:
                continue
            lines.append(
                json.dumps(
                    {
                        "trace_id": f"{ctx.trace_id:032x}",
                        "span_id": f"{ctx.span_id:016x}",
                        "parent_id": f"{parent.span_id:016x}" if parent else "",
                        "name": span.name,
                        "service": self._service,
                        "start": span.start_time,
                        "end": span.end_time,
                        "attributes": dict(span.attributes or {}),
                    },
                    default=str,
                )
            )
        with self._lock, self._path.open("a") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup(service: str) -> None:
    """Installs the tracer provider of this process if HELICASE_TRACE_DIR is set."""
    global _enabled
    directory = TRACE_DIR.read()
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = JsonLinesExporter(path / f"{service}-{os.getpid()}.jsonl", service)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _enabled = True


def enabled() -> bool:
    return _enabled


def tracer() -> trace.Tracer:
    return trace.get_tracer("helicase")


def inject() -> dict[str, str]:
    """The current trace context as W3C headers ({"traceparent": ...}); empty outside a span."""
    carrier: dict[str, str] = {}
    if _enabled:
        _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> context.Context:
    return _PROPAGATOR.extract(dict(carrier))


def grpc_metadata() -> list[tuple[str, str]]:
    """The current trace context as gRPC metadata."""
    return list(inject().items())


def from_kafka_headers(headers: Any) -> dict[str, str]:
    """The trace context of a consumed message's headers (a list of (name, value) pairs).
    Never raises: a consumer reads it on its poll loop, whatever a producer put there."""
    out: dict[str, str] = {}
    for name, value in headers or ():
        if name == "traceparent" and value:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            out[name] = text[:256]  # a W3C traceparent is 55 characters
    return out


@contextmanager
def span(name: str, parent: Mapping[str, str] | None = None, **attributes: Any) -> Iterator[None]:
    """A span named `name`, child of `parent` (W3C headers) or of the current span."""
    if not _enabled:
        yield
        return
    ctx = extract(parent) if parent else None
    with tracer().start_as_current_span(name, context=ctx, attributes=attributes):
        yield

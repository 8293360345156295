"""One call at a service's start: JSON logs, traces (HELICASE_TRACE_DIR) and the /metrics
endpoint (HELICASE_METRICS_ADDR)."""

from __future__ import annotations

from helicase.common import logs, metrics, tracing


def setup(service: str) -> None:
    logs.setup(service)
    tracing.setup(service)
    metrics.serve()

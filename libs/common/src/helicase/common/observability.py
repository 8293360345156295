"""One call at a service's start: JSON logs, traces (HELICASE_TRACE_DIR), the /metrics
endpoint (HELICASE_METRICS_ADDR), and big buffers given back to the system when freed
(helicase.common.memory)."""

from __future__ import annotations

from helicase.common import logs, memory, metrics, tracing


def setup(service: str) -> None:
    memory.return_big_buffers()
    logs.setup(service)
    tracing.setup(service)
    metrics.serve()

"""The api's Prometheus metrics (served with helicase.common.metrics.serve)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from helicase.common.metrics import LATENCY_BUCKETS

WORKFLOWS_CREATED = Counter("helicase_api_workflows_created_total", "Workflows created")
EVENTS_RECORDED = Counter("helicase_api_events_recorded_total", "Events stored (not duplicates)")
END_TO_END_SECONDS = Histogram(
    "helicase_workflow_end_to_end_seconds",
    "From CreateWorkflow to the terminal state stored in PostgreSQL, by terminal state",
    ["state"],
    buckets=LATENCY_BUCKETS,
)

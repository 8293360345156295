"""The participant's Prometheus metrics (served with helicase.common.metrics.serve)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from helicase.common.metrics import LATENCY_BUCKETS

TASK_RUNS = Counter(
    "helicase_participant_task_runs_total", "Task runs on this participant, by outcome",
    ["type", "outcome"],
)  # fmt: skip
TASK_SECONDS = Histogram(
    "helicase_participant_task_seconds", "Run time of a task on this participant", ["type"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
RUNNING = Gauge("helicase_participant_running_tasks", "Tasks running here now (its load)")
CAPACITY = Gauge("helicase_participant_capacity", "Tasks this participant runs at once")
UNACKED = Gauge(
    "helicase_participant_unacked_results", "Results sent but not yet acknowledged by the leader"
)

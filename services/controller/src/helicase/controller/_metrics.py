"""The controller's Prometheus metrics (served with helicase.common.metrics.serve)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from helicase.common.metrics import LATENCY_BUCKETS

TASKS_PLACED = Counter("helicase_tasks_placed_total", "Assignments sent to participants", ["type"])
TASKS_FINISHED = Counter(
    "helicase_tasks_finished_total", "Task attempts that ended, by state", ["state"]
)
DISPATCH_SECONDS = Histogram(
    "helicase_dispatch_latency_seconds",
    "From a task becoming READY to its assignment going out to a participant",
    buckets=LATENCY_BUCKETS,
)
WORKFLOW_SECONDS = Histogram(
    "helicase_workflow_duration_seconds",
    "From a workflow's submission to the controller to its terminal state",
    ["state"],
    buckets=LATENCY_BUCKETS,
)
READY_QUEUE = Gauge("helicase_ready_queue_depth", "READY tasks waiting for a participant slot")
WORKFLOWS = Gauge("helicase_controller_workflows", "Workflows the leader holds")
COMMIT_SECONDS = Histogram(
    "helicase_state_commit_seconds",
    "Time of one group commit of workflow states to ZooKeeper",
    buckets=LATENCY_BUCKETS,
)

"""The scheduler's Prometheus metrics (served with helicase.common.metrics.serve); its consumer
lag is helicase_kafka_consumer_lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FOLLOWED = Gauge("helicase_scheduler_workflows_followed", "Running workflows this scheduler owns")
WAITING = Gauge(
    "helicase_scheduler_admission_waiting", "Launches waiting for admission (queue depth)"
)
COMMAND_BYTES = Gauge(
    "helicase_scheduler_command_bytes",
    "Bytes of the commands this scheduler holds (read, not yet done; launches carry their"
    " workflow): intake pauses at HELICASE_SCHEDULER_MAX_IN_FLIGHT_BYTES",
)
ADOPTED = Counter("helicase_scheduler_adopted_total", "Orphaned workflows adopted")
FIRED = Counter("helicase_scheduler_schedule_firings_total", "Recurring workflow firings")

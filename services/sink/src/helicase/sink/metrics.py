"""The sink's Prometheus metrics (served with helicase.common.metrics.serve); its consumer lag
is helicase_kafka_consumer_lag."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_STORED = Counter("helicase_sink_events_total", "Events handed to RecordEvents and stored")
DEAD_LETTERS = Counter("helicase_sink_dead_letters_total", "Events sent to the dead-letter topic")
BATCH_SIZE = Histogram(
    "helicase_sink_batch_events", "Events per RecordEvents batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)  # fmt: skip

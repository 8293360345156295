"""Prometheus metrics: the ones every service shares, and serving /metrics.

HELICASE_METRICS_ADDR (host:port) turns the endpoint on (off when empty, the default, so that
several services on one host never fight over a port; the local suite and the Kubernetes
manifests set it). Service-specific metrics live in each service's own `metrics` module.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from helicase.common.config import METRICS_ADDR

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800,
)  # fmt: skip

ZK_CONNECTED = Gauge(
    "helicase_zookeeper_session_connected", "1 while the ZooKeeper session is connected"
)
GRPC_HANDLED = Counter(
    "helicase_grpc_server_handled_total", "gRPC calls served", ["method", "code"]
)
GRPC_SECONDS = Histogram(
    "helicase_grpc_server_handling_seconds",
    "Time to answer a unary gRPC call",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
KAFKA_LAG = Gauge(
    "helicase_kafka_consumer_lag",
    "Messages behind the end of the partition (from librdkafka statistics)",
    ["group", "topic", "partition"],
)


def serve() -> int | None:
    """Starts the /metrics endpoint if HELICASE_METRICS_ADDR names an address; returns its port."""
    addr = METRICS_ADDR.read()
    if not addr:
        return None
    host, _, port = addr.rpartition(":")
    server, _ = start_http_server(int(port), addr=host or "0.0.0.0")
    bound = int(server.server_address[1])
    log.info("metrics serving", extra={"addr": f"{host}:{bound}"})
    return bound


def on_kafka_stats(raw: str) -> None:
    """librdkafka's statistics callback: records each assigned partition's consumer lag."""
    try:
        stats: dict[str, Any] = json.loads(raw)
    except ValueError:
        return
    group = str(stats.get("client_id", ""))
    for topic, info in stats.get("topics", {}).items():
        for partition, p in info.get("partitions", {}).items():
            lag = p.get("consumer_lag", -1)
            if partition != "-1" and isinstance(lag, int) and lag >= 0:
                KAFKA_LAG.labels(group, topic, partition).set(lag)

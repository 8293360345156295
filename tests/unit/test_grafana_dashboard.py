"""The Grafana dashboard in deploy/grafana only queries metrics the services define."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

import helicase.api.metrics
import helicase.common.metrics
import helicase.controller._metrics
import helicase.participant.metrics
import helicase.scheduler.metrics
import helicase.sink.metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "helicase-dashboard.json"
MODULES = (
    helicase.api.metrics,
    helicase.common.metrics,
    helicase.controller._metrics,
    helicase.participant.metrics,
    helicase.scheduler.metrics,
    helicase.sink.metrics,
)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def defined() -> set[str]:
    """Every series name the services' metrics produce."""
    names: set[str] = set()
    for module in MODULES:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                kind, name = value._type, value._name
                names |= {name + suffix for suffix in SUFFIXES[str(kind)]}
    return names


def test_every_panel_queries_defined_metrics() -> None:
    doc = json.loads(DASHBOARD.read_text())
    known = defined()
    used = set()
    for panel in doc["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"\bhelicase_[a-z_]+", target["expr"]))
    assert used, "the dashboard queries nothing"
    assert used <= known, sorted(used - known)

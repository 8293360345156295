"""Observability on the real suite: every service's /metrics exposes the named metrics after a
workflow ran, and one trace spans api -> scheduler -> controller -> participant for a task
(spans written by each process as JSON lines, read back here)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

from helicase.client import HelicaseClient
from helicase.devstack.testing import RunningSuite, new_home, remove_home
from tests.integration.helpers import run_to_end, state

EXPECTED = {
    "api": [
        "helicase_api_workflows_created_total",
        "helicase_workflow_end_to_end_seconds_count",
        "helicase_grpc_server_handled_total",
        "helicase_zookeeper_session_connected 1.0",
    ],
    "scheduler": [
        "helicase_scheduler_workflows_followed",
        "helicase_scheduler_admission_waiting",
        "helicase_kafka_consumer_lag{",
        "helicase_zookeeper_session_connected 1.0",
    ],
    "sink": ["helicase_sink_events_total", "helicase_kafka_consumer_lag{"],
    "leader": [
        'helicase_tasks_placed_total{type="noop"}',
        'helicase_tasks_finished_total{state="COMPLETED"}',
        "helicase_dispatch_latency_seconds_bucket",
        "helicase_ready_queue_depth",
        "helicase_state_commit_seconds_count",
        "helicase_workflow_duration_seconds_count",
    ],
    "participants": ["helicase_participant_task_runs_total{", "helicase_participant_capacity"],
}


def scrape(suite: RunningSuite, name: str) -> str:
    addr = suite.specs[name].env["HELICASE_METRICS_ADDR"]
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as response:
        return str(response.read().decode())


def missing(suite: RunningSuite) -> dict[str, list[str]]:
    pages = {name: scrape(suite, name) for name in suite.specs}
    controllers = [p for n, p in pages.items() if n.startswith("controller")]
    participants = "".join(p for n, p in pages.items() if n.startswith("participant"))
    views = {
        "api": pages["api"],
        "scheduler": pages["scheduler"],
        "sink": pages["sink"],
        # the leader is whichever controller placed tasks
        "leader": max(controllers, key=lambda p: p.count("helicase_tasks_placed_total{")),
        "participants": participants,
    }
    gaps = {
        view: [name for name in names if name not in views[view]]
        for view, names in EXPECTED.items()
    }
    return {view: names for view, names in gaps.items() if names}


def spans(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in directory.glob("*.jsonl"):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


async def test_metrics_and_one_trace_across_the_services(make_suite: Any) -> None:
    traces = new_home("helicase-traces-")
    try:
        suite = make_suite(extra_env={"HELICASE_TRACE_DIR": str(traces)})
        async with HelicaseClient(suite.api_addr, token=suite.token) as client:
            done = await run_to_end(client, [{"id": "a", "type": "noop"}], displayName="traced")
        assert state(done) == "COMPLETED"
        gaps: dict[str, list[str]] = {}
        for _ in range(40):  # consumer lag comes with librdkafka's statistics, every 5 s
            gaps = missing(suite)
            if not gaps:
                break
            await asyncio.sleep(0.5)
        assert gaps == {}

        task_run: dict[str, Any] = {}
        for _ in range(20):
            found = spans(traces)
            task_run = next(
                (
                    s
                    for s in found
                    if s["name"] == "run noop" and s["attributes"].get("workflow_id") == done.id
                ),
                {},
            )
            if task_run:
                break
            await asyncio.sleep(0.25)
        assert task_run, "the participant recorded no span for the task"
        trace = [s for s in found if s["trace_id"] == task_run["trace_id"]]
        services = {s["service"] for s in trace}
        assert {"api", "scheduler", "controller", "participant"} <= services, services
        by_id = {s["span_id"]: s for s in trace}
        chain = []
        span: dict[str, Any] | None = task_run
        while span is not None:  # walk up from the task's run to the root
            chain.append((span["service"], span["name"]))
            span = by_id.get(span["parent_id"])
        assert chain[-1] == ("api", "/helicase.v1.WorkflowService/CreateWorkflow"), chain
        assert [service for service, _ in reversed(chain)] == [
            "api",
            "scheduler",
            "controller",
            "participant",
        ], chain
    finally:
        remove_home(traces)

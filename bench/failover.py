"""Measures recovery times on a real suite (its own ZooKeeper, Kafka and PostgreSQL):

1. kill -9 of the controller leader -> the first task placed by the standby (an ASSIGNED event
   from the new leader), while a chain of sleep tasks is running;
2. kill -9 of a participant running a task -> that task RUNNING on another participant.

Times come from the events' own timestamps (the producers' clocks, one host). Prints the figures
and writes bench/results/<date>-failover.json. Never asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kazoo.client import KazooClient

from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.states import TS
from helicase.devstack import Infra, InfraPorts
from helicase.devstack.testing import RunningSuite, SuiteFactory, new_home, remove_home
from helicase.internal.v1 import event_pb2

ROOT = Path(__file__).resolve().parent


def events_of(suite: RunningSuite, workflow_id: str) -> list[event_pb2.Event]:
    with psycopg.connect(suite.database_url) as conn:
        rows = conn.execute(
            "select payload from events where workflow_id = %s", (workflow_id,)
        ).fetchall()
    return [event_pb2.Event.FromString(bytes(r[0])) for r in rows]


def leader(suite: RunningSuite) -> str:
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=10)
    try:
        data, _ = zk.get("/helicase/controller/leader")
    finally:
        zk.stop()
        zk.close()
    addr = json.loads(data)["addr"]
    return next(name for name, a in suite.addresses.items() if a == addr)


async def wait_for(check: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


async def controller_failover(suite: RunningSuite, client: HelicaseClient) -> float:
    chain = [
        {"id": f"s{i}", "type": "sleep", "params": {"seconds": 0.3},
         **({"dependsOn": [f"s{i - 1}"]} if i else {})}
        for i in range(60)
    ]  # fmt: skip
    created = await client.create(load_workflow_request({"workflow": {"tasks": chain}}))
    await wait_for(
        lambda: sum(
            e.task_event.state == TS.TASK_STATE_COMPLETED
            for e in events_of(suite, created.id) if e.HasField("task_event")
        ) >= 2
    )  # fmt: skip
    victim = leader(suite)
    killed_at = time.time()
    suite.kill(victim)
    new_source = f"controller/{next(a for n, a in suite.addresses.items() if n.startswith('controller') and n != victim)}"  # noqa: E501

    def first_new_placement() -> float | None:
        times = [
            e.time.ToDatetime(tzinfo=UTC).timestamp()
            for e in events_of(suite, created.id)
            if e.source == new_source and e.HasField("task_event")
            and e.task_event.state == TS.TASK_STATE_ASSIGNED
        ]  # fmt: skip
        return min(times) if times else None

    placed_at = await wait_for(first_new_placement, within=90)
    await client.cancel(created.id)
    suite.start(victim)
    return float(placed_at - killed_at)


async def participant_loss(suite: RunningSuite, client: HelicaseClient) -> float:
    created = await client.create(
        load_workflow_request(
            {"workflow": {"tasks": [{"id": "long", "type": "sleep", "params": {"seconds": 20}}]}}
        )
    )

    def running_on() -> str | None:
        for e in events_of(suite, created.id):
            if e.HasField("task_event") and e.task_event.state == TS.TASK_STATE_RUNNING:
                return e.task_event.participant
        return None

    first = await wait_for(running_on)
    victim = next(n for n, s in suite.specs.items()
                  if s.env.get("HELICASE_PARTICIPANT_NAME") == first)  # fmt: skip
    killed_at = time.time()
    suite.kill(victim)

    def running_elsewhere() -> float | None:
        for e in events_of(suite, created.id):
            te = e.task_event
            if e.HasField("task_event") and te.state == TS.TASK_STATE_RUNNING and te.placement > 1:
                return e.time.ToDatetime(tzinfo=UTC).timestamp()
        return None

    moved_at = await wait_for(running_elsewhere, within=90)
    await client.cancel(created.id)
    suite.start(victim)
    return float(moved_at - killed_at)


async def measure(suite: RunningSuite, runs: int) -> dict[str, Any]:
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        failovers = [await controller_failover(suite, client) for _ in range(runs)]
        losses = [await participant_loss(suite, client) for _ in range(runs)]
    return {
        "controller_failover_s": [round(x, 2) for x in failovers],
        "participant_loss_s": [round(x, 2) for x in losses],
        "controller_failover_median_s": round(statistics.median(failovers), 2),
        "participant_loss_median_s": round(statistics.median(losses), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--session-timeout", default="4s")
    parser.add_argument("--lost-grace", default="5s")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    home = new_home("helicase-failover-")
    infra = Infra(home, InfraPorts.free(), durable=True)
    factory = SuiteFactory(infra)
    try:
        infra.start()
        suite = factory(
            extra_env={
                "HELICASE_ZK_SESSION_TIMEOUT": args.session_timeout,
                "HELICASE_PARTICIPANT_LOST_GRACE": args.lost_grace,
            }
        )
        figures = asyncio.run(measure(suite, args.runs))
    finally:
        factory.close()
        infra.stop()
        remove_home(home)
    figures["settings"] = {"zk_session_timeout": args.session_timeout,
                           "participant_lost_grace": args.lost_grace}  # fmt: skip
    print(
        f"controller leader kill -9 -> first placement by the standby: "
        f"{figures['controller_failover_s']} s (median {figures['controller_failover_median_s']})"
    )
    print(
        f"participant kill -9 -> its task running elsewhere: "
        f"{figures['participant_loss_s']} s (median {figures['participant_loss_median_s']})"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{datetime.now(UTC):%Y-%m-%d}-failover.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""A chaos driver: runs a Helicase suite under load, kill -9's its processes (and restarts
ZooKeeper, Kafka and PostgreSQL) while workflows run, then checks that nothing was lost or
duplicated. `scripts/chaos.py` (`make chaos`) runs it at scale; tests/integration/
test_chaos_small.py runs a small version.

What is checked at the end (each failed check is a line of `ChaosReport.failures`):

- every workflow is terminal, in a state its shape allows (cancelled ones may have finished
  before the cancel landed);
- PostgreSQL: no event id twice, no two task events with the same (workflow, task, attempt,
  placement, state), every task of a terminal workflow has an event of its terminal state, every
  terminal workflow has its terminal workflow event, one workflow per request id;
- the participants' ledger (`helicase.devstack.chaos_ledger`, installed in each participant
  through its task observer hook): no task started again after a
  COMPLETED result of it was acknowledged, and every task COMPLETED in PostgreSQL ran to
  COMPLETED somewhere.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from helicase.client import HelicaseClient, load_workflow_request
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.devstack import _secrets_env, chaos_ledger
from helicase.devstack._chaos_checks import check_database, check_ledger, check_states
from helicase.devstack._chaos_killer import Killer
from helicase.devstack._chaos_model import (
    RETRYABLE,
    ChaosOptions,
    ChaosReport,
    Submitted,
    first_line,
    ws_name,
)
from helicase.devstack._hog import LoadHog
from helicase.devstack._infra import Infra, InfraPorts
from helicase.devstack._layout import (
    ServicePorts,
    participant_spec,
    scheduler_spec,
    service_specs,
)
from helicase.devstack._proc import free_port
from helicase.devstack._supervisor import ServiceSpec, Supervisor
from helicase.devstack.settings import CHAOS_LEDGER
from helicase.devstack.testing import RunningSuite, namespace_env, new_home, remove_home
from helicase.participant.config import MODULES as PARTICIPANT_MODULES

__all__ = ["Chaos", "ChaosOptions", "ChaosReport", "ChaosSuite", "run_chaos"]


# --- workflows -----------------------------------------------------------------------------


class Shapes:
    """Random workflow definitions (task lists in the design's JSON shape)."""

    def __init__(self, rng: random.Random, options: ChaosOptions, marker_dir: Path) -> None:
        self.rng = rng
        self.lo = options.min_sleep
        self.hi = options.max_sleep
        self.marker_dir = marker_dir

    def _seconds(self) -> float:
        return round(self.rng.uniform(self.lo, self.hi), 2)

    def work(self, task_id: str, deps: list[str]) -> dict[str, Any]:
        after = {"dependsOn": deps} if deps else {}
        if self.rng.random() < 0.6:
            return {"id": task_id, "type": "sleep", "params": {"seconds": self._seconds()}, **after}
        command = f"sleep {self._seconds()}"
        return {"id": task_id, "type": "shell", "params": {"command": command}, **after}

    def chain(self, prefix: str = "") -> list[dict[str, Any]]:
        n = self.rng.randint(2, 5)
        return [self.work(f"{prefix}c{i}", [f"{prefix}c{i - 1}"] if i else []) for i in range(n)]

    def diamond(self) -> list[dict[str, Any]]:
        return [
            self.work("top", []),
            self.work("left", ["top"]),
            self.work("right", ["top"]),
            self.work("bottom", ["left", "right"]),
        ]

    def fan(self) -> list[dict[str, Any]]:
        width = self.rng.randint(3, 6)
        leaves = [self.work(f"f{i}", ["root"]) for i in range(width)]
        return [
            self.work("root", []),
            *leaves,
            self.work("join", [f"f{i}" for i in range(width)]),
        ]

    def single(self) -> list[dict[str, Any]]:
        return [self.work("only", [])]

    def normal(self) -> list[dict[str, Any]]:
        return self.rng.choice([self.chain, self.diamond, self.fan])()

    def flaky(self) -> list[dict[str, Any]]:
        marker = self.marker_dir / uuid.UUID(int=self.rng.getrandbits(128)).hex
        command = f"if [ -e {marker} ]; then rm -f {marker}; else touch {marker}; exit 1; fi"
        return [
            self.work("before", []),
            {"id": "flaky", "type": "shell", "dependsOn": ["before"],
             "params": {"command": command},
             "retry": {"maxAttempts": 4, "initialBackoff": "0.1s"}},
            self.work("after", ["flaky"]),
        ]  # fmt: skip

    def fatal(self) -> list[dict[str, Any]]:
        return [
            self.work("before", []),
            {"id": "bad", "type": "shell", "dependsOn": ["before"],
             "params": {"command": "exit 3", "fatal_exit_codes": [3]},
             "retry": {"maxAttempts": 5, "initialBackoff": "0.1s"}},
            self.work("blocked", ["bad"]),
        ]  # fmt: skip

    def cancel(self) -> list[dict[str, Any]]:
        return [
            {"id": f"long{i}", "type": "sleep", "params": {"seconds": self.hi},
             **({"dependsOn": [f"long{i - 1}"]} if i else {})}
            for i in range(3)
        ]  # fmt: skip

    def make(self) -> tuple[str, list[dict[str, Any]]]:
        draw = self.rng.random()
        kind = (
            "flaky"
            if draw < 0.1
            else "fatal"
            if draw < 0.2
            else "cancel"
            if draw < 0.3
            else "normal"
        )
        return kind, getattr(self, kind)()


# --- the suite -----------------------------------------------------------------------------


def chaos_specs(namespace: str, *, participants: int, schedulers: int) -> list[ServiceSpec]:
    """The usual suite's services on free ports, plus schedulers scheduler-2.. and participants
    participant-3.. (each with its own name and port)."""
    specs = service_specs(ServicePorts.free(), participant_prefix=namespace)
    specs = [s for s in specs if not s.name.startswith("participant-")]
    for index in range(2, schedulers + 1):
        specs.append(scheduler_spec(f"scheduler-{index}", f"scheduler-{index - 1}", free_port()))
    ledger = {PARTICIPANT_MODULES.name: chaos_ledger.__name__}
    for index in range(1, participants + 1):
        specs.append(participant_spec(index, free_port(), namespace, ledger))
    return specs


class ChaosSuite:
    """Infra (its own, fsync on, unless one is given) and a suite with a shared ledger file.
    `close()` stops everything it started; it is also registered with atexit."""

    home_prefix = "helicase-chaos-"

    def __init__(self, options: ChaosOptions, infra: Infra | None = None) -> None:
        self.options = options
        self.home = new_home(self.home_prefix)
        self.ledger = self.home / "ledger.jsonl"
        self.markers = self.home / "markers"
        self.markers.mkdir()
        self.markers.chmod(0o1777)  # the shell tasks' markers: written as the task user
        self.own_infra = infra is None
        self.infra = infra or Infra(self.home, InfraPorts.free(), durable=True)
        self.suite: RunningSuite | None = None
        self.hog = LoadHog(directory=self.home) if options.hog else None
        self._closed = False
        atexit.register(self.close)

    def start(self) -> RunningSuite:
        if self.own_infra:
            self.options.log(f"starting ZooKeeper, Kafka, PostgreSQL under {self.home}")
            self.infra.start()
        namespace = f"{self.home_prefix.split('-')[1]}{uuid.uuid4().hex[:8]}"
        env = {CHAOS_LEDGER.name: str(self.ledger)}
        tokens = _secrets_env.suite_tokens(env)
        specs = _secrets_env.give(
            chaos_specs(
                namespace,
                participants=self.options.participants,
                schedulers=self.options.schedulers,
            ),
            tokens,
        )
        by_name = {spec.name: spec for spec in specs}
        env |= namespace_env(self.infra, namespace, by_name["api"])
        supervisor = Supervisor(self.home, specs, env)
        participants = [s for s in specs if s.module == "helicase.participant"]
        self.suite = RunningSuite(
            namespace=namespace,
            supervisor=supervisor,
            env=env,
            addresses={spec.name: spec.health_addr for spec in specs},
            zk=env["HELICASE_ZK"],
            topic_prefix=env["HELICASE_TOPIC_PREFIX"],
            database_url=env["HELICASE_DATABASE_URL"],
            participant_names=[s.env["HELICASE_PARTICIPANT_NAME"] for s in participants],
            max_tasks=100000,
            specs=by_name,
            admin_token=tokens[_secrets_env.ADMIN_TOKEN],
        )
        self.options.log(f"starting the suite ({', '.join(by_name)}) in namespace {namespace}")
        supervisor.start_all()
        supervisor.wait_healthy(timeout=120)
        if self.hog is not None:
            self.options.log(f"load hog: {self.hog.cpus} CPU burners and an fsync writer")
            self.hog.start()
        return self.suite

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.hog is not None:
            self.hog.stop()
        try:
            if self.suite is not None:
                self.suite.supervisor.stop_all()
        finally:
            try:
                if self.own_infra:
                    self.infra.stop()
            finally:
                remove_home(self.home, keep=self.options.keep_home)
                if self.options.keep_home:
                    self.options.log(f"kept the run's logs, data and ledger in {self.home}")


# --- the driver ----------------------------------------------------------------------------


class Chaos:
    label = "chaos"
    """How its log lines begin."""

    def __init__(self, options: ChaosOptions, suite: RunningSuite, ledger: Path, markers: Path):
        self.options = options
        self.suite = suite
        self.ledger = ledger
        self.rng = random.Random(options.seed)
        self.shapes = Shapes(random.Random(options.seed + 1), options, markers)
        self.submitted: list[Submitted] = []
        self.cancel_outcomes: Counter[str] = Counter()
        self.odd_errors: Counter[str] = Counter()
        self.journal: list[tuple[float, str]] = []  # (time, what the driver did), for timelines
        self.killer = Killer(options, suite, self.rng, self.log)

    def log(self, message: str) -> None:
        self.journal.append((time.time(), message))
        self.options.log(f"[{self.label} {time.strftime('%H:%M:%S')}] {message}")

    # --- submitting

    async def _create(self, client: HelicaseClient, item: Submitted, tasks: list[Any]) -> None:
        request = load_workflow_request(
            {
                "requestId": item.request_id,
                "workflow": {
                    "displayName": f"chaos-{item.kind}-{item.index}",
                    "labels": {"chaos": self.suite.namespace, "kind": item.kind},
                    "failurePolicy": "FAILURE_POLICY_FAIL_FAST",
                    "tasks": tasks,
                },
            }
        )
        deadline = time.monotonic() + 180
        while True:
            item.create_attempts += 1
            try:
                created = await client.create(request)
                break
            except grpc.aio.AioRpcError as err:
                self._retry_or_raise(err, "create", deadline)
                await asyncio.sleep(0.5)
        if item.workflow_id and created.id != item.workflow_id:
            raise AssertionError(f"request {item.request_id} got two workflow ids")
        item.workflow_id = created.id
        if item.kind == "cancel":
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            await self._cancel(client, item)

    async def _cancel(self, client: HelicaseClient, item: Submitted) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                await client.cancel(item.workflow_id, reason="chaos driver")
                item.canceled = True
                self.cancel_outcomes["accepted"] += 1
                return
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    self.cancel_outcomes["already finished"] += 1
                    return
                self._retry_or_raise(err, "cancel", deadline)
                await asyncio.sleep(0.5)

    def _retry_or_raise(self, err: grpc.aio.AioRpcError, call: str, deadline: float) -> None:
        """Raises `err` past the deadline or when no retry may cure it. UNKNOWN and INTERNAL
        are not retryable by the contract, but the request id makes a retry safe: they are
        counted and reported (e.g. the api's UNKNOWN while PostgreSQL is down)."""
        if time.monotonic() > deadline:
            raise err
        if err.code() not in RETRYABLE:
            if err.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                raise err
            self.odd_errors[f"{call} {err.code().name}: {first_line(err)}"] += 1

    async def submit(self, client: HelicaseClient, item: Submitted, tasks: list[Any]) -> None:
        """Creates (and for kind `cancel`, cancels) one workflow; a call that fails for good
        is recorded in `item.error`, a failed check at the end, and the run goes on."""
        try:
            await self._create(client, item, tasks)
        except Exception as exc:
            item.error = repr(exc)
            self.log(f"workflow {item.index} ({item.request_id}): {exc!r}")

    async def submit_all(self, client: HelicaseClient, window: float) -> None:
        gate = asyncio.Semaphore(16)
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending: list[asyncio.Task[None]] = []

        async def one(item: Submitted, tasks: list[Any]) -> None:
            async with gate:
                await self.submit(client, item, tasks)

        count = self.options.workflows
        for index in range(count):
            kind, tasks = self.shapes.make()
            item = Submitted(
                index=index,
                kind=kind,
                request_id=f"chaos-{self.suite.namespace}-{index}",
                task_ids=[t["id"] for t in tasks],
            )
            self.submitted.append(item)
            pending.append(asyncio.create_task(one(item, tasks)))
            due = start + window * (index + 1) / count
            await asyncio.sleep(max(0.0, due - loop.time()))
        await asyncio.gather(*pending)
        self.log(f"submitted {count} workflows")

    # --- waiting

    async def wait_terminal(self, clients: Mapping[str, HelicaseClient]) -> list[Submitted]:
        """Waits (bounded) until every workflow is terminal; returns those that are not. Each
        workflow is read with the client of its tenant (`clients[item.tenant]`)."""
        deadline = time.monotonic() + self.options.wait_timeout
        left = [item for item in self.submitted if item.workflow_id]
        gate = asyncio.Semaphore(16)

        async def check(item: Submitted) -> None:
            async with gate:
                try:
                    workflow = await clients[item.tenant].get(item.workflow_id, full=False)
                except grpc.aio.AioRpcError as err:
                    if err.code() in RETRYABLE:
                        return
                    raise
                item.final_state = workflow.state

        while left:
            await asyncio.gather(*(check(item) for item in left))
            left = [item for item in left if item.final_state not in WORKFLOW_TERMINAL]
            if not left or time.monotonic() > deadline:
                break
            self.log(f"waiting for {len(left)} workflows to finish")
            await asyncio.sleep(2)
        return left

    # --- the run

    async def run(self, infra: Infra | None) -> ChaosReport:
        options = self.options
        began = time.monotonic()
        async with HelicaseClient(
            self.suite.api_addr, token=self.suite.token, timeout=10
        ) as client:
            loop = asyncio.get_running_loop()
            until = loop.time() + options.duration
            killer = asyncio.create_task(self.killer.run(until, infra))
            try:
                await self.submit_all(client, options.duration * 0.6)
                await killer
            finally:
                if not killer.done():
                    killer.cancel()
            self.log("chaos over; every service up again")
            for name in self.suite.specs:
                await asyncio.to_thread(self.killer.ensure_running, name)
            chaos_end = time.monotonic()
            stuck = await self.wait_terminal({"": client})
        self.killer.close()
        report = ChaosReport()
        report.figures["seconds"] = {
            "chaos": round(chaos_end - began, 1),
            "drain": round(time.monotonic() - chaos_end, 1),
        }
        report.figures["kills"] = dict(sorted(self.killer.kills.items()))
        report.figures["kills_total"] = sum(self.killer.kills.values())
        report.figures["restart_failures"] = dict(self.killer.restart_failures)
        report.figures["infra_restarts_s"] = self.killer.infra_restarts
        report.figures["cancels"] = dict(self.cancel_outcomes)
        report.figures["create_retries"] = sum(i.create_attempts - 1 for i in self.submitted)
        await self.check(report, stuck)
        return report

    async def check(self, report: ChaosReport, stuck: Sequence[Submitted]) -> None:
        """The end-of-run checks of every submitted workflow; failures go to `report`."""
        report.figures["odd_errors_retried"] = dict(self.odd_errors)
        missing = [i for i in self.submitted if not i.workflow_id]
        if missing:
            report.failures.append(f"{len(missing)} workflows never created: {missing[:3]}")
        errors = [(i.request_id, i.error) for i in self.submitted if i.workflow_id and i.error]
        if errors:
            report.failures.append(f"{len(errors)} create/cancel calls failed: {errors[:3]}")
        if stuck:
            sample = [(i.workflow_id, ws_name(i.final_state)) for i in stuck[:10]]
            report.failures.append(f"{len(stuck)} workflows not terminal in time: {sample}")
        check_states(self.submitted, report)
        completed = await asyncio.to_thread(
            check_database, self.submitted, self.suite.database_url, report
        )
        await asyncio.to_thread(check_ledger, self.ledger, completed, report, self.journal)


def add_log_tails(report: ChaosReport, suite: RunningSuite) -> None:
    """When a check failed: the last lines of each service's log, in the report's figures."""
    if not report.ok:
        for name in suite.specs:
            tail = suite.log(name, 3).splitlines()
            report.figures[f"log_tail_{name}"] = [line[:300] for line in tail]


async def run_chaos(options: ChaosOptions, infra: Infra | None = None) -> ChaosReport:
    """Starts a suite (and its own infrastructure unless `infra` is given), runs the chaos,
    checks, and always stops what it started."""
    holder = ChaosSuite(options, infra)
    try:
        suite = await asyncio.to_thread(holder.start)
        chaos = Chaos(options, suite, holder.ledger, holder.markers)
        report = await chaos.run(holder.infra if holder.own_infra else None)
        add_log_tails(report, suite)
        return report
    finally:
        await asyncio.to_thread(holder.close)

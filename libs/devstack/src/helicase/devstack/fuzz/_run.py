"""A fuzz run against a running suite: generated and garbage requests to every public RPC as a
tenant admin and a viewer (and the platform admin, if asked), garbage on every Kafka topic, and
after each batch the invariants: no process exited, a canary workflow of another tenant still
completes in time; RSS of the services before and after. See run_fuzz."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import aiohttp
import grpc
from google.protobuf import message

from helicase.client import HelicaseClient, load_workflow_request
from helicase.devstack.fuzz import _health, _kafka
from helicase.devstack.fuzz._findings import KnownFinding, Tally
from helicase.devstack.fuzz._hostile import Budget, Pools
from helicase.devstack.fuzz._jobs import Job, Mix, batch
from helicase.devstack.fuzz._kafka import Garbage
from helicase.devstack.fuzz._messages import MessageStrategies
from helicase.devstack.fuzz._rpcs import Rpc, public_rpcs, short, verb
from helicase.devstack.fuzz._send import Answer, connect_call, grpc_call
from helicase.devstack.testing import RunningSuite
from helicase.wire import channel as wire_channel

POOL_FIELDS = ("id", "name", "tenant")
OWN_KEYS = "AdminService/ListApiKeys"
"""Not harvested: its ids are the run's own keys, which RevokeApiKey would end the run with."""


@dataclass(frozen=True)
class FuzzOptions:
    requests: int = 2000
    batch: int = 1000  # requests between two checks of the invariants
    kafka_per_topic: int = 10  # garbage messages per topic and batch
    concurrency: int = 16
    deadline: float = 15.0  # of each request
    canary_within: float = 30.0
    seed: int = 1
    platform_admin: bool = False
    budget: Budget = field(default_factory=Budget)
    mix: Mix = field(default_factory=Mix)
    log: Callable[[str], None] = lambda _line: None


@dataclass
class FuzzReport:
    tally: Tally
    seconds: float = 0.0
    generating: float = 0.0  # spent generating requests (in a thread, beside the sending)
    kafka_sent: int = 0
    rss_before: dict[str, int | None] = field(default_factory=dict)
    rss_after: dict[str, int | None] = field(default_factory=dict)
    rss_per_batch: list[dict[str, int | None]] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)
    canary_seconds: list[float] = field(default_factory=list)

    @property
    def unlevelled(self) -> list[str]:
        """Services whose memory did not level off (helicase.devstack.fuzz._health)."""
        return _health.unlevelled(self.rss_per_batch)

    @property
    def ok(self) -> bool:
        return (
            not self.tally.new_findings()
            and not self.exits
            and not self.stalls
            and not self.unlevelled
        )

    def render(self) -> str:
        rate = self.tally.total / self.seconds if self.seconds else 0.0
        lines = [
            self.tally.render(),
            f"requests: {self.tally.total} in {self.seconds:.0f} s ({rate:.0f}/s; "
            f"generating them took {self.generating:.0f} s, beside the sending); "
            f"garbage Kafka messages: {self.kafka_sent}",
            "canary (s): "
            + (f"max {max(self.canary_seconds):.1f}, " if self.canary_seconds else "")
            + f"{len(self.canary_seconds)} runs",
            "RSS before -> after:",
            *(f"  {line}" for line in _health.growth(self.rss_before, self.rss_after)),
            "memory levelled off: "
            + (
                "not judged (too few batches)"
                if len(self.rss_per_batch) < _health.LEVEL_BATCHES
                else "no: " + "; ".join(self.unlevelled)
                if self.unlevelled
                else "yes (medians of the last quarter of batches against the second)"
            ),
            f"processes exited: {self.exits or 'none'}",
            f"pipeline stalls: {self.stalls or 'none'}",
        ]
        return "\n".join(lines)


def _strings(msg: message.Message, wanted: Sequence[str]) -> Iterable[str]:
    """Every string field of `msg` (nested) named in `wanted` or ending in "_id"."""
    for desc, value in msg.ListFields():
        if desc.message_type is not None:
            items = value.values() if desc.message_type.GetOptions().map_entry else value
            children = items if desc.is_repeated else [value]
            for child in children:
                if isinstance(child, message.Message):
                    yield from _strings(child, wanted)
        elif isinstance(value, str) and (desc.name in wanted or desc.name.endswith("_id")):
            yield value


class Fuzzer:
    def __init__(self, suite: RunningSuite, options: FuzzOptions, known: Sequence[KnownFinding]):
        self.suite = suite
        self.options = options
        self.tally = Tally(known=known)
        self.report = FuzzReport(self.tally)
        self.rpcs = public_rpcs()
        self.by_path = {rpc.path: rpc for rpc in self.rpcs}
        tenant = f"fuzz-{uuid.uuid4().hex[:6]}"
        self.tokens = {
            "admin": suite.issue_key(tenant, "admin"),
            "viewer": suite.issue_key(tenant, "viewer"),
        }
        if options.platform_admin:
            self.tokens["platform"] = suite.admin_token
        self.canary_token = suite.issue_key(f"canary-{uuid.uuid4().hex[:6]}", "admin")
        self.web = "http://" + suite.specs["api"].env["HELICASE_WEB_ADDR"]
        self.connect_paths: set[str] = set()

    async def run(self) -> FuzzReport:
        options, report = self.options, self.report
        channel = wire_channel(self.suite.api_addr, token="")
        canary = HelicaseClient(self.suite.api_addr, token=self.canary_token)
        try:
            async with aiohttp.ClientSession() as http:
                await self._canary(canary, "before fuzzing")
                pools = await self._pools(channel)
                self.connect_paths = await self._served_over_http(http)
                messages = MessageStrategies(options.budget, pools)
                pids = _health.pids(self.suite)
                report.rss_before = _health.rss(self.suite)
                started = time.monotonic()
                rounds = math.ceil(options.requests / options.batch)
                # The next batch is generated (in a thread) while the current one is sent.
                upcoming = asyncio.create_task(asyncio.to_thread(self._batch, messages, 0))
                for round_ in range(rounds):
                    jobs, garbage = await upcoming
                    if round_ + 1 < rounds:
                        upcoming = asyncio.create_task(
                            asyncio.to_thread(self._batch, messages, round_ + 1)
                        )
                    await self._send(channel, http, jobs)
                    report.kafka_sent += await asyncio.to_thread(
                        _kafka.produce,
                        self.suite.env["HELICASE_KAFKA"],
                        self.suite.topic_prefix,
                        garbage,
                    )
                    report.exits = _health.exits(pids, _health.pids(self.suite))
                    await self._canary(canary, f"after batch {round_ + 1}")
                    report.seconds = time.monotonic() - started
                    rss = _health.rss(self.suite)
                    report.rss_per_batch.append(rss)
                    options.log(
                        f"batch {round_ + 1}/{rounds}: {self.tally.total} requests, "
                        f"{len(self.tally.findings)} findings, {report.seconds:.0f} s; RSS MiB "
                        + " ".join(f"{n}={(v or 0) / 1024:.0f}" for n, v in sorted(rss.items()))
                    )
                    if report.exits:
                        upcoming.cancel()
                        break
                report.rss_after = _health.rss(self.suite)
        finally:
            await canary.close()
            await channel.close()
        return report

    async def _served_over_http(self, http: aiohttp.ClientSession) -> set[str]:
        """The methods the HTTP port serves: those not answering an empty request with
        UNIMPLEMENTED."""
        served = set()
        for rpc in self.rpcs:
            answer = await connect_call(
                http, self.web, rpc, b"{}", self.tokens["viewer"], self.options.deadline
            )
            if answer.code != "UNIMPLEMENTED":
                served.add(rpc.path)
        self.options.log(f"the HTTP port serves {len(served)} of {len(self.rpcs)} methods")
        return served

    def _batch(self, messages: MessageStrategies, round_: int) -> tuple[list[Job], list[Garbage]]:
        """The requests and the garbage Kafka messages of batch `round_` (one thread at a time
        runs Hypothesis)."""
        made = time.monotonic()
        options = self.options
        count = min(options.batch, options.requests - round_ * options.batch)
        seed = options.seed + 1000 * round_
        jobs = batch(
            self.rpcs, messages, list(self.tokens), count, seed, options.mix, self.connect_paths
        )
        garbage = _kafka.garbage_batch(options.budget, messages, options.kafka_per_topic, seed)
        self.report.generating += time.monotonic() - made
        return jobs, garbage

    async def _pools(self, channel: grpc.aio.Channel) -> Pools:
        """Existing ids and names: what every List method (empty request, OWN_KEYS aside)
        answers the fuzzing identities and the canary's tenant (whose ids the fuzzing
        identities must not reach)."""
        found: set[str] = set()
        for rpc in self.rpcs:
            if rpc.server_streaming or not verb(rpc).startswith("List"):
                continue
            if short(rpc) == OWN_KEYS:
                continue
            for token in [*self.tokens.values(), self.canary_token]:
                answer = await grpc_call(channel, rpc, b"", token, self.options.deadline)
                if answer.code == "OK":
                    found.update(_strings(rpc.response.FromString(answer.body), POOL_FIELDS))
        ids = sorted(value for value in found if value)[:300]
        self.options.log(f"pools: {len(ids)} existing ids and names")
        return Pools(ids=ids)

    async def _send(
        self, channel: grpc.aio.Channel, http: aiohttp.ClientSession, jobs: list[Job]
    ) -> None:
        gate = asyncio.Semaphore(self.options.concurrency)
        created: list[tuple[Rpc, bytes]] = []

        async def one(job: Job) -> None:
            async with gate:
                answer = await self._answer(channel, http, job)
            self.tally.record(short(job.rpc), job.way, answer.code, answer.message, job.shown)
            if answer.code == "OK" and answer.body and verb(job.rpc).startswith("Create"):
                created.append((job.rpc, answer.body))

        await asyncio.gather(*(one(job) for job in jobs))
        await self._clean_up(channel, created)

    async def _answer(
        self, channel: grpc.aio.Channel, http: aiohttp.ClientSession, job: Job
    ) -> Answer:
        token = self.tokens[job.identity]
        if job.way == "connect":
            try:
                return await connect_call(
                    http, self.web, job.rpc, job.payload, token, self.options.deadline
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                return Answer("CONNECTION_FAILED", repr(exc))
        return await grpc_call(channel, job.rpc, job.payload, token, self.options.deadline)

    async def _clean_up(self, channel: grpc.aio.Channel, created: list[tuple[Rpc, bytes]]) -> None:
        """Cancels or deletes what the fuzzing created (workflows, schedules, experiments...):
        the Cancel<X> or Delete<X> of Create<X>'s service, with the created resource's id."""
        for rpc, body in created:
            service, method = rpc.path.rsplit("/", 1)
            noun = method.removeprefix("Create")
            undo = self.by_path.get(f"{service}/Cancel{noun}") or self.by_path.get(
                f"{service}/Delete{noun}"
            )
            ids = list(_strings(rpc.response.FromString(body), ("id",)))
            if undo is None or not ids:
                continue
            request = undo.request(id=ids[0])
            answer = await grpc_call(
                channel,
                undo,
                request.SerializeToString(),
                self.tokens["admin"],
                self.options.deadline,
            )
            self.tally.record(short(undo), "cleanup", answer.code, answer.message, request.__repr__)

    async def _canary(self, client: HelicaseClient, when: str) -> None:
        """One single-task workflow of another tenant, which must complete in time."""
        started = time.monotonic()
        request = load_workflow_request(
            {"workflow": {"displayName": "canary", "tasks": [{"id": "a", "type": "noop"}]}}
        )
        try:
            created = await client.create(request)
            await client.wait(created.id, within=self.options.canary_within)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            self.report.stalls.append(f"{when}: {exc!r}"[:500])
            return
        self.report.canary_seconds.append(time.monotonic() - started)


async def run_fuzz(
    suite: RunningSuite, options: FuzzOptions, known: Sequence[KnownFinding] = ()
) -> FuzzReport:
    """Fuzzes `suite` (see the module's docstring); findings matching `known` are reported apart
    and do not make the report fail."""
    return await Fuzzer(suite, options, known).run()

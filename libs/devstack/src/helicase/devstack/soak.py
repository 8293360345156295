"""A soak run: a suite of its own (ZooKeeper, Kafka, PostgreSQL and every service on free ports
under a fresh home, like the chaos driver's), a short ramp that measures the maximum sustained
rate of the load mix (unless a rate is given), then `duration` seconds of that mix at half of it
while the RSS of every process is sampled; then every workflow is awaited and the chaos checks
run. `scripts/soak.py` (`make soak`) runs it.

The load (helicase.devstack._soak_load): single-task and DAG workflows, shell tasks that fail
once and retry, a fatal exit code (FATAL_FAILED), cancels, sleeps, from two tenants with keys
issued by the platform admin; readers looping ListWorkflows, GetWorkflow and WatchWorkflow;
an every-minute schedule per tenant; a single-task latency probe every 2 s.

The ramp: steps of `ramp_step` seconds at rates ramp_start, x ramp_factor, ...; a step is
beyond the maximum when the api accepts under 90% of the creates, when the backlog (workflows
not terminal in PostgreSQL) grows by more than 10% of the rate, or when the probes' median
latency passes 4x their median with no load, measured just before the ramp
(helicase.devstack._soak_model.Saturation). The maximum is the last step before that.

The verdict: failures (exit 1) are the chaos checks' (nothing lost, nothing run twice after
its COMPLETED was acknowledged, every event stored), a process that died or was restarted, and a
reader answered UNKNOWN/INTERNAL/DATA_LOSS. RSS growth is reported per process, flat or not
(helicase.devstack._soak_model.Flatness), never a failure.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helicase.devstack import _paths, _soak_rss
from helicase.devstack._chaos_model import ChaosReport
from helicase.devstack._infra import Infra
from helicase.devstack._soak_load import Soak
from helicase.devstack._soak_model import (
    RssSummary,
    SoakOptions,
    Step,
    deaths,
    ramp_rates,
    rss_table,
    saturated,
    soak_rate,
)
from helicase.devstack.chaos import ChaosSuite, add_log_tails

__all__ = ["SoakOptions", "SoakResult", "run_soak"]


class SoakSuite(ChaosSuite):
    home_prefix = "helicase-soak-"


@dataclass
class SoakResult:
    report: ChaosReport
    rss: list[RssSummary] = field(default_factory=list)
    out: Path | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok

    def render(self) -> str:
        lines = [self.report.render()]
        if self.rss:
            lines += ["== RSS per process (MB; growth after the warm-up, from the fit) ==",
                      rss_table(self.rss)]  # fmt: skip
        if self.out is not None:
            lines.append(f"samples and report: {self.out}")
        return "\n".join(lines)


def quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    if len(values) == 1:
        return {"n": 1, "p50_ms": round(values[0], 1), "p99_ms": round(values[0], 1)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}


def within(samples: Sequence[tuple[float, float]], begin: float, end: float) -> list[float]:
    return [value for t, value in samples if begin <= t <= end]


async def measure_maximum(soak: Soak, options: SoakOptions) -> tuple[float, list[dict[str, Any]]]:
    """The ramp: the highest rate of the mix the suite sustained, and each step's figures."""
    steps: list[dict[str, Any]] = []
    begin = time.monotonic()
    await asyncio.sleep(min(options.ramp_step, 20.0))  # the probes alone: the idle latency
    idle = within(soak.probe_ms, begin, time.monotonic())[1:]  # the first: cold connections
    baseline = statistics.median(idle) if idle else None
    steps.append({"rate": 0, "probe": quantiles(idle)})
    best = 0.0
    for rate in ramp_rates(options.ramp_start, options.ramp_factor, options.ramp_cap):
        begin = time.monotonic()
        issued = await soak.load(rate, options.ramp_step)
        end = time.monotonic()
        step = Step(
            rate=rate,
            accepted=await soak.accepted(issued),
            seconds=end - begin,
            backlog=[(t - begin, n) for t, n, _ in soak.backlog if begin <= t <= end],
            probe_ms=within(soak.probe_ms, begin, end),
        )
        why = saturated(step, baseline, options.saturation)
        steps.append(
            {"rate": rate, "accepted": step.accepted, "backlog_end": step.backlog[-1][1]
             if step.backlog else None, "probe": quantiles(step.probe_ms), "beyond": why}
        )  # fmt: skip
        soak.log(f"ramp {rate}/s: {step.accepted} accepted; {why or 'sustained'}")
        if why:
            if not best:  # not even the first step: what it managed
                best = step.accepted / step.seconds
            break
        best = rate
    return best, steps


async def drain(soak: Soak, limit: float = 180.0) -> None:
    """Waits (bounded) until the backlog left by the ramp is gone."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(2)
        if soak.backlog and soak.backlog[-1][1] <= len(soak.soak.mix.tenants):
            return
    soak.log("the ramp's backlog did not drain in time; soaking anyway")


async def sample_rss(
    processes: _soak_rss.Processes, began: float, interval: float, into: list[_soak_rss.Sample]
) -> None:
    while True:
        into.append(await asyncio.to_thread(_soak_rss.take, processes, time.monotonic() - began))
        await asyncio.sleep(interval)


async def soak_phase(soak: Soak, options: SoakOptions, rate: float, infra: Infra) -> dict[str, Any]:
    """`duration` seconds of the mix at `rate`, RSS sampled; returns the achieved figures."""
    samples: list[_soak_rss.Sample] = []
    processes = _soak_rss.suite_processes(soak.suite, infra)
    began = time.monotonic()
    sampler = asyncio.create_task(sample_rss(processes, began, options.sample_interval, samples))
    try:
        await soak.load(rate, options.duration)
    finally:
        sampler.cancel()
    ended = time.monotonic()
    samples.append(_soak_rss.take(processes, ended - began))
    done = [(t, d) for t, _, d in soak.backlog if began <= t <= ended]
    completed = done[-1][1] - done[0][1] if len(done) >= 2 else 0
    return {
        "samples": samples,
        "processes": processes,
        "figures": {
            "seconds": round(ended - began, 1),
            "offered_per_s": rate,
            "accepted_per_s": round(len(within(soak.create_ms, began, ended)) / (ended - began), 2),
            "terminal_per_s": round(completed / (ended - began), 2),
            "create_latency": quantiles(within(soak.create_ms, began, ended)),
            "single_task_latency": quantiles(within(soak.probe_ms, began, ended)),
            "backlog_max": max((n for t, n, _ in soak.backlog if began <= t <= ended), default=0),
        },
    }


async def run_soak(options: SoakOptions) -> SoakResult:
    """Starts a suite with its own infrastructure, ramps, soaks, checks; always stops what it
    started (also on an exception or Ctrl-C)."""
    holder = SoakSuite(options.chaos)
    out = Path(options.out) if options.out else (
        _paths.home() / "soak" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    )  # fmt: skip
    starting = asyncio.ensure_future(asyncio.to_thread(holder.start))
    try:
        suite = await asyncio.shield(starting)
        soak = Soak(options, suite, holder.ledger, holder.markers)
        try:
            result = await _run(soak, options, holder.infra, out)
        finally:
            await soak.close()
        add_log_tails(result.report, suite)
        return result
    finally:
        await asyncio.wait([starting])  # interrupted while starting: stop it all once started
        await asyncio.to_thread(holder.close)


async def _run(soak: Soak, options: SoakOptions, infra: Infra, out: Path) -> SoakResult:
    report = ChaosReport()
    await soak.open()
    await soak.create_schedules()
    soak.background()
    if options.rate is None:
        maximum, steps = await measure_maximum(soak, options)
        report.figures["ramp_steps"] = steps
        report.figures["max_sustained_per_s"] = maximum
        rate = soak_rate(maximum, options.fraction)
        if rate <= 0:  # nothing accepted at all: a failure, and the checks still run
            report.failures.append("the ramp's first step had no create accepted")
            rate = soak_rate(options.ramp_start, options.fraction)
        await drain(soak)
    else:
        rate = options.rate
    soak.log(f"soaking at {rate} workflows/s for {options.duration:.0f} s")
    phase = await soak_phase(soak, options, rate, infra)
    report.figures["soak"] = phase["figures"]
    samples: list[_soak_rss.Sample] = phase["samples"]
    soak.stop_background()
    await soak.settle()
    await soak.collect_scheduled()
    soak.log(f"waiting for {len(soak.submitted)} workflows to be terminal")
    stuck = await soak.wait_terminal(soak.clients)
    report.figures["reads"] = dict(sorted(soak.reads.items()))
    if soak.broken_reads:
        report.failures.append(f"{len(soak.broken_reads)} broken reads: {soak.broken_reads[:3]}")
    after = _soak_rss.take(phase["processes"], -1)
    died = deaths([s.pids for s in [*samples, after]])
    if died:
        report.failures.append(f"processes died during the soak: {died}")
    await soak.check(report, stuck)
    rows = _soak_rss.summaries(samples, warmup_s=options.warmup, flatness=options.flatness)
    report.figures["rss_flat"] = f"{sum(r.flat for r in rows)} of {len(rows)} processes"
    _soak_rss.write(
        out,
        samples,
        rows,
        {"figures": report.figures, "failures": report.failures,
         "flatness": asdict(options.flatness), "warmup_s": options.warmup},
    )  # fmt: skip
    return SoakResult(report=report, rss=rows, out=out)

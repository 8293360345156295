"""The soak run's pure parts: the load mix, the ramp's verdict on one rate step, the RSS
samples' least-squares slope and the "flat" criterion, and the table they print."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from helicase.devstack._chaos_model import ChaosOptions

HOUR = 3600.0


# --- the load mix --------------------------------------------------------------------------


DEFAULT_MIX: Mapping[str, float] = {
    "single": 0.35,  # one sleep or shell task
    "normal": 0.35,  # a chain, a diamond or a fan-out/fan-in DAG
    "flaky": 0.10,  # a shell task that fails once, then succeeds on retry
    "fatal": 0.05,  # a shell task with a fatal exit code: FATAL_FAILED, the workflow FAILED
    "cancel": 0.15,  # three long sleeps, cancelled 0.2-1.5 s after the create
}
"""Kinds of workflow the soak submits (the chaos driver's shapes plus single-task ones) and their
share of the submissions."""


@dataclass(frozen=True)
class LoadMix:
    """Draws workflow kinds with fixed weights; `tenants` take turns."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    tenants: Sequence[str] = ("soak-a", "soak-b")

    def __post_init__(self) -> None:
        if not self.weights or min(self.weights.values()) < 0 or sum(self.weights.values()) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum: {self.weights}")
        if len(self.tenants) < 1:
            raise ValueError("at least one tenant")

    def kind(self, rng: random.Random) -> str:
        kinds = sorted(self.weights)
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def tenant(self, index: int) -> str:
        return self.tenants[index % len(self.tenants)]


# --- the ramp ------------------------------------------------------------------------------


def ramp_rates(start: float, factor: float, cap: float) -> Iterator[float]:
    """Offered rates of the ramp's steps (workflows/s): start, start*factor, ... up to cap."""
    if start <= 0 or factor <= 1:
        raise ValueError("the ramp needs start > 0 and factor > 1")
    rate = start
    while rate <= cap + 1e-9:
        yield round(rate, 3)
        rate *= factor


@dataclass(frozen=True)
class Step:
    """What one ramp step saw: the rate asked for, the workflows accepted during the step, its
    length, the (seconds, workflows not yet terminal) samples and the single-task probes'
    submit-to-COMPLETED latencies."""

    rate: float
    accepted: int
    seconds: float
    backlog: Sequence[tuple[float, float]]
    probe_ms: Sequence[float]


@dataclass(frozen=True, kw_only=True)
class Saturation:
    """When a step counts as beyond the maximum (any one suffices)."""

    min_accepted: float = 0.9
    """Fewer accepted creates than this share of rate x seconds: the api cannot keep up."""
    backlog_growth: float = 0.1
    """The backlog's fitted growth, in workflows/s, above this share of the rate..."""
    backlog_floor: float = 5.0
    """...and above this many workflows over the step: the engine cannot drain the load."""
    latency_factor: float = 4.0
    """The probes' median latency above this many times their median with no load."""


def saturated(step: Step, baseline_ms: float | None, limits: Saturation) -> str:
    """Why `step` is beyond the sustained maximum, or "" when it was sustained."""
    wanted = step.rate * step.seconds
    if step.accepted < limits.min_accepted * wanted:
        return f"accepted {step.accepted} of {wanted:.0f} creates"
    if len(step.backlog) >= 2:
        growth = slope(step.backlog)
        if growth > limits.backlog_growth * step.rate and growth * step.seconds > (
            limits.backlog_floor
        ):
            return f"backlog grew {growth:.2f} workflows/s"
    if baseline_ms and step.probe_ms:
        median = statistics.median(step.probe_ms)
        if median > limits.latency_factor * baseline_ms:
            factor = limits.latency_factor
            return f"probe latency p50 {median:.0f} ms > {factor:g}x {baseline_ms:.0f} ms"
    return ""


def soak_rate(maximum: float, fraction: float = 0.5) -> float:
    """The soak's rate: `fraction` of the measured maximum."""
    return round(maximum * fraction, 3)


# --- RSS: the fit and the verdict ----------------------------------------------------------


def slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of y over x (0 with fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


@dataclass(frozen=True, kw_only=True)
class Flatness:
    """A process is flat when the growth of its RSS after the warm-up (the fitted line's rise
    from the first sample after the warm-up to the last) is under `max_growth_pct` percent of its
    RSS at that first sample and under `max_growth_mb` megabytes. The fit, not the last sample,
    so one garbage collection or page-cache blip at either end does not decide."""

    max_growth_pct: float = 10.0
    max_growth_mb: float = 50.0


@dataclass(frozen=True)
class RssSummary:
    process: str
    warm_mb: float
    """RSS at the first sample after the warm-up (minute 1 by default)."""
    end_mb: float
    max_mb: float
    slope_mb_h: float
    growth_mb: float
    growth_pct: float
    flat: bool


def summarize(
    process: str,
    samples: Sequence[tuple[float, float]],
    *,
    warmup_s: float,
    flatness: Flatness,
) -> RssSummary | None:
    """The summary of one process's (seconds since start, MB) samples; None without a sample
    after the warm-up."""
    after = [(t, mb) for t, mb in samples if t >= warmup_s]
    if not after:
        return None
    fit = slope(after)  # MB per second
    span = after[-1][0] - after[0][0]
    growth = fit * span
    warm = after[0][1]
    pct = 100 * growth / warm if warm else 0.0
    return RssSummary(
        process=process,
        warm_mb=round(warm, 1),
        end_mb=round(after[-1][1], 1),
        max_mb=round(max(mb for _, mb in samples), 1),
        slope_mb_h=round(fit * HOUR, 1),
        growth_mb=round(growth, 1),
        growth_pct=round(pct, 1),
        flat=growth < flatness.max_growth_mb and pct < flatness.max_growth_pct,
    )


def rss_table(rows: Sequence[RssSummary]) -> str:
    """The summaries as a fixed-width table."""
    head = ("process", "warm MB", "end MB", "max MB", "MB/h", "growth MB", "growth %", "verdict")
    body = [
        (
            r.process,
            f"{r.warm_mb:.1f}",
            f"{r.end_mb:.1f}",
            f"{r.max_mb:.1f}",
            f"{r.slope_mb_h:+.1f}",
            f"{r.growth_mb:+.1f}",
            f"{r.growth_pct:+.1f}",
            "flat" if r.flat else "GROWING",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True)))
        for row in (head, *body)
    )  # fmt: skip


def deaths(pids: Sequence[Mapping[str, int | None]]) -> dict[str, str]:
    """Processes that died during the run, from the pid each sample saw per process: gone at a
    sample, or another pid (restarted) than at the first sample."""
    out: dict[str, str] = {}
    if not pids:
        return out
    first = pids[0]
    for index, seen in enumerate(pids):
        for name in first:
            pid = seen.get(name)
            if name in out:
                continue
            if pid is None:
                out[name] = f"not running at sample {index}"
            elif pid != first[name]:
                out[name] = f"pid {first[name]} became {pid} at sample {index}"
    return out


# --- options -------------------------------------------------------------------------------


@dataclass
class SoakOptions:
    duration: float = 1800.0
    """Seconds of load at the soak rate."""
    rate: float | None = None
    """Workflows/s of the soak; None: half of the maximum the ramp measures."""
    fraction: float = 0.5
    ramp_start: float = 1.0
    ramp_factor: float = 2.0
    ramp_cap: float = 64.0
    ramp_step: float = 30.0
    """Seconds per ramp step."""
    saturation: Saturation = field(default_factory=Saturation)
    sample_interval: float = 60.0
    warmup: float = 60.0
    """Seconds of the soak before the RSS samples the verdict starts from."""
    flatness: Flatness = field(default_factory=Flatness)
    mix: LoadMix = field(default_factory=LoadMix)
    readers: int = 2
    """Readers per tenant, each looping ListWorkflows, GetWorkflow and WatchWorkflow."""
    schedules: int = 1
    """Every-minute schedules per tenant."""
    probe_interval: float = 2.0
    """Seconds between single-task latency probes."""
    out: str = ""
    """Directory of the samples and the report; empty: <HELICASE_HOME>/soak/<UTC time>."""
    chaos: ChaosOptions = field(
        default_factory=lambda: ChaosOptions(min_sleep=0.05, max_sleep=1.0, wait_timeout=300.0)
    )
    """The suite (participants, schedulers), the shapes' sleeps, the seed, the final wait."""

    @property
    def log(self) -> Callable[[str], None]:
        return self.chaos.log

"""The soak run's pure parts: the least-squares slope, the flat criterion, the load mix, the
ramp's verdict on a step, and deaths seen in the samples' pids."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helicase.devstack._chaos_model import EXPECTED
from helicase.devstack._soak_model import (
    DEFAULT_MIX,
    Flatness,
    LoadMix,
    Saturation,
    Step,
    deaths,
    ramp_rates,
    rss_table,
    saturated,
    slope,
    soak_rate,
    summarize,
)
from helicase.devstack._soak_rss import descendants, summaries, take, write


def test_the_slope_of_a_line_is_its_gradient() -> None:
    assert slope([(0, 100), (60, 101), (120, 102)]) == pytest.approx(1 / 60)
    assert slope([(0, 5), (10, 5)]) == 0
    assert slope([(3, 5)]) == 0 and slope([]) == 0
    assert slope([(1, 1), (1, 9)]) == 0  # no spread of x


@given(
    st.floats(-100, 100),
    st.floats(0, 1000),
    st.lists(st.floats(0, 10_000), min_size=2, max_size=40, unique=True),
)
def test_the_slope_recovers_any_exact_line(gradient: float, start: float, xs: list[float]) -> None:
    points = [(x, start + gradient * x) for x in xs]
    if max(xs) - min(xs) < 1e-3:
        return
    assert slope(points) == pytest.approx(gradient, rel=1e-6, abs=1e-6)


def test_a_process_that_grows_under_both_bounds_is_flat() -> None:
    samples = [(0, 50.0), (60, 200.0), (120, 202.0), (180, 204.0)]  # warm-up, then +2 MB/min
    row = summarize("api", samples, warmup_s=60, flatness=Flatness())
    assert row is not None
    assert (row.warm_mb, row.end_mb, row.max_mb) == (200.0, 204.0, 204.0)
    assert row.slope_mb_h == pytest.approx(120.0)
    assert row.growth_mb == pytest.approx(4.0) and row.growth_pct == pytest.approx(2.0)
    assert row.flat


def test_growth_over_either_bound_is_not_flat() -> None:
    # 10% of a small process, though only 12 MB.
    small = [(60, 100.0), (120, 106.0), (180, 112.0)]
    assert not summarize("sink", small, warmup_s=60, flatness=Flatness()).flat  # type: ignore[union-attr]
    # 60 MB on a large process, though only 3%.
    large = [(60, 2000.0), (120, 2030.0), (180, 2060.0)]
    row = summarize("kafka", large, warmup_s=60, flatness=Flatness())
    assert row is not None and row.growth_pct == pytest.approx(3.0) and not row.flat
    loose = summarize("kafka", large, warmup_s=60, flatness=Flatness(max_growth_mb=100))
    assert loose is not None and loose.flat


def test_the_verdict_follows_the_fit_not_one_blip_at_the_end() -> None:
    samples = [(60.0 * m, 300.0) for m in range(1, 30)] + [(1800.0, 340.0)]
    row = summarize("postgres", samples, warmup_s=60, flatness=Flatness())
    assert row is not None and row.end_mb == 340.0 and row.flat
    assert row.growth_mb < 10


def test_no_sample_after_the_warmup_gives_no_row() -> None:
    assert summarize("api", [(0, 1.0), (30, 2.0)], warmup_s=60, flatness=Flatness()) is None


def test_the_table_shows_one_line_per_process_with_its_verdict() -> None:
    rows = [
        summarize("api", [(60, 100.0), (120, 100.0)], warmup_s=60, flatness=Flatness()),
        summarize("sink", [(60, 100.0), (120, 150.0)], warmup_s=60, flatness=Flatness()),
    ]
    text = rss_table([r for r in rows if r is not None])
    lines = text.splitlines()
    assert lines[0].split()[0] == "process" and len(lines) == 3
    assert lines[1].endswith("flat") and lines[2].endswith("GROWING")


def test_the_mix_draws_every_kind_near_its_weight_and_tenants_take_turns() -> None:
    mix = LoadMix()
    rng = random.Random(7)
    drawn = Counter(mix.kind(rng) for _ in range(20_000))
    assert set(drawn) == set(DEFAULT_MIX)
    for kind, weight in DEFAULT_MIX.items():
        assert drawn[kind] / 20_000 == pytest.approx(weight / sum(DEFAULT_MIX.values()), abs=0.02)
    assert [mix.tenant(i) for i in range(4)] == ["soak-a", "soak-b", "soak-a", "soak-b"]
    # Every kind the soak submits has an expected outcome in the chaos checks.
    assert set(DEFAULT_MIX) | {"probe", "scheduled"} <= set(EXPECTED)


def test_a_mix_without_weights_or_tenants_is_refused() -> None:
    with pytest.raises(ValueError):
        LoadMix(weights={})
    with pytest.raises(ValueError):
        LoadMix(weights={"single": -1, "normal": 2})
    with pytest.raises(ValueError):
        LoadMix(tenants=())


def test_the_ramp_multiplies_up_to_its_cap() -> None:
    assert list(ramp_rates(1, 2, 16)) == [1, 2, 4, 8, 16]
    assert list(ramp_rates(0.5, 1.5, 2)) == [0.5, 0.75, 1.125, 1.688]
    with pytest.raises(ValueError):
        list(ramp_rates(1, 1, 8))
    assert soak_rate(8) == 4 and soak_rate(9, 0.25) == 2.25


def step(**fields: object) -> Step:
    base: dict[str, object] = {
        "rate": 4.0,
        "accepted": 80,
        "seconds": 20.0,
        "backlog": [(t, 10.0) for t in range(0, 20, 2)],
        "probe_ms": [40.0, 50.0, 60.0],
    }
    return Step(**{**base, **fields})  # type: ignore[arg-type]


def test_a_step_is_sustained_when_creates_keep_up_backlog_is_flat_and_latency_holds() -> None:
    assert saturated(step(), 50.0, Saturation()) == ""
    assert saturated(step(), None, Saturation()) == ""  # no probe answered while idle


def test_a_step_is_beyond_the_maximum_on_any_one_sign() -> None:
    limits = Saturation()
    assert "accepted 60 of 80" in saturated(step(accepted=60), 50.0, limits)
    growing = [(float(t), 10.0 + 2 * t) for t in range(0, 20, 2)]  # +2/s at 4/s offered
    assert "backlog grew 2.00" in saturated(step(backlog=growing), 50.0, limits)
    slow = [400.0, 500.0, 600.0]
    assert "probe latency p50 500 ms" in saturated(step(probe_ms=slow), 50.0, limits)


def test_a_small_backlog_wobble_is_not_saturation() -> None:
    wobble = [(0.0, 3.0), (10.0, 4.0), (19.0, 5.0)]  # grows, but by under 5 workflows
    assert saturated(step(rate=0.5, accepted=10, backlog=wobble), 50.0, Saturation()) == ""


def test_deaths_are_a_missing_or_changed_pid() -> None:
    assert deaths([]) == {}
    seen: list[dict[str, int | None]] = [
        {"api": 10, "sink": 20, "kafka": 30},
        {"api": 10, "sink": None, "kafka": 30},
        {"api": 11, "sink": 21, "kafka": 30},
    ]
    assert deaths(seen) == {
        "sink": "not running at sample 1",
        "api": "pid 10 became 11 at sample 2",
    }


def test_descendants_are_found_at_any_depth() -> None:
    parent_of = {2: 1, 3: 2, 4: 2, 5: 3, 9: 8}
    assert sorted(descendants(1, parent_of)) == [2, 3, 4, 5]
    assert descendants(5, parent_of) == []


def test_a_sample_reads_each_process_from_proc_and_marks_the_gone(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        me = os.getpid()
        gone = subprocess.Popen(["true"])
        gone.wait()
        table = {
            "alone": (me, False),
            "tree": (me, True),  # with the sleeping child
            "gone": (gone.pid, False),
            "never": (None, False),
        }
        first = take(lambda: table, 0.0)
        later = take(lambda: table, 60.0)
    finally:
        child.kill()
        child.wait()
    assert first.pids == {"alone": me, "tree": me, "gone": None, "never": None}
    assert set(first.rss_mb) == {"alone", "tree"} and first.rss_mb["alone"] > 1
    rows = summaries([first, later], warmup_s=0, flatness=Flatness())
    assert [r.process for r in rows] == ["alone", "tree"]
    write(tmp_path, [first, later], rows, {"figures": {}})
    lines = (tmp_path / "rss.csv").read_text().splitlines()
    assert lines[0] == "t_s,process,pid,rss_mb" and len(lines) == 5
    document = json.loads((tmp_path / "soak.json").read_text())
    assert [r["process"] for r in document["rss_summary"]] == ["alone", "tree"]
    assert len(document["rss_samples"]) == 2

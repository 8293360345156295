"""The table and the chart of `make bench` (pure: a result record in, text or a PNG out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORKLOADS = ("a", "b", "c", "d")
ROLES = ("controller", "participant")


def _get(record: dict[str, Any], system: str, *path: str) -> float | None:
    node: Any = record.get(system, {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _ratio(helicase: float | None, helix: float | None) -> str:
    if helicase is None or helix is None or helix == 0:
        return "-"
    return f"{helicase / helix:.3g}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def rows(record: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(workload, metric, helicase, helix, helicase/helix) for every figure both systems have."""
    metrics = [
        ("tasks/s", ("tasks_per_s",)),
        ("dispatch p50 ms", ("dispatch_ms", "p50")),
        ("dispatch p99 ms", ("dispatch_ms", "p99")),
        ("dependent dispatch p50 ms", ("dispatch_dependent_ms", "p50")),
        ("dependent dispatch p99 ms", ("dispatch_dependent_ms", "p99")),
        ("submit->COMPLETED p50 ms", ("submit_to_completed_ms", "p50")),
        ("submit->COMPLETED p99 ms", ("submit_to_completed_ms", "p99")),
    ]
    for role in ROLES:
        metrics += [
            (f"{role} CPU s", ("resources", role, "cpu_s")),
            (f"{role} RSS peak MB", ("resources", role, "rss_peak_mb")),
        ]
    out = []
    for workload in WORKLOADS:
        for label, path in metrics:
            here = _get(record, "helicase", "workloads", workload, *path)
            there = _get(record, "helix", "workloads", workload, *path)
            if here is None and there is None:
                continue
            out.append((f"({workload})", label, _fmt(here), _fmt(there), _ratio(here, there)))
    return out


def table(record: dict[str, Any]) -> str:
    header = ("workload", "metric", "helicase", "helix", "helicase/helix")
    body = rows(record)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
        return "  ".join(cells)

    text = [line(header), line(tuple("-" * w for w in widths))]
    previous = ""
    for r in body:
        text.append(line((r[0] if r[0] != previous else "", *r[1:])))
        previous = r[0]
    return "\n".join(text)


def markdown(record: dict[str, Any]) -> str:
    """The same table in Markdown (for docs/benchmarks.md)."""
    lines = [
        "| workload | metric | Helicase | Helix | Helicase/Helix |",
        "|---|---|---:|---:|---:|",
    ]
    previous = ""
    for r in rows(record):
        lines.append(f"| {r[0] if r[0] != previous else ''} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |")
        previous = r[0]
    return "\n".join(lines)


def helicase_only(record: dict[str, Any]) -> str:
    """The (e) workloads, which only Helicase runs."""
    lines = []
    for key, result in record.get("helicase", {}).get("workloads", {}).items():
        if key in WORKLOADS:
            continue
        figures = {k: v for k, v in result.items() if k not in ("description", "resources")}
        lines.append(f"({key}) {result.get('description', '')}: {figures}")
        for role, usage in result.get("resources", {}).items():
            lines.append(f"      {role}: {usage}")
    return "\n".join(lines)


def chart(record: dict[str, Any], path: Path) -> None:
    """Six panels (tasks/s, dispatch p99, dependent dispatch p50 and p99, submit->COMPLETED p50,
    controller CPU s), one bar per system and workload, log scale. Dependent dispatch has no bar
    in (a) and (d) (no task there has a dependency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("tasks/s (higher is better)", ("tasks_per_s",)),
        ("dispatch p99, ms", ("dispatch_ms", "p99")),
        ("dependent dispatch p50, ms", ("dispatch_dependent_ms", "p50")),
        ("dependent dispatch p99, ms", ("dispatch_dependent_ms", "p99")),
        ("submit -> COMPLETED p50, ms", ("submit_to_completed_ms", "p50")),
        ("controller CPU, s", ("resources", "controller", "cpu_s")),
    ]
    systems = (("helicase", "#2a7fff"), ("helix", "#ff8c1a"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, metric) in zip(axes, panels, strict=True):
        plotted = False
        for offset, (system, colour) in enumerate(systems):
            values = [_get(record, system, "workloads", w, *metric) or 0.0 for w in WORKLOADS]
            xs = [i + (offset - 0.5) * 0.38 for i in range(len(WORKLOADS))]
            ax.bar(xs, values, width=0.38, label=system, color=colour)
            plotted = plotted or any(v > 0 for v in values)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(WORKLOADS)), [f"({w})" for w in WORKLOADS])
        if plotted:
            ax.set_yscale("log")
    axes[0].legend()
    fig.suptitle(
        f"Helicase vs Apache Helix {record.get('helix', {}).get('helix_version', '')} "
        f"({record.get('date', '')}, {record.get('machine', {}).get('cpus', '?')} shared cores"
        f"{', quick scales' if record.get('quick') else ''})",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""The chaos driver's end-of-run checks: workflow states, PostgreSQL's events, the ledger."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from helicase.common.events import TASK_TERMINAL, WORKFLOW_TERMINAL
from helicase.common.states import TS
from helicase.devstack._chaos_model import (
    EXPECTED,
    ChaosReport,
    Submitted,
    ts_name,
    ws_name,
)
from helicase.internal.v1 import event_pb2


def check_states(submitted: Sequence[Submitted], report: ChaosReport) -> None:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for item in submitted:
        table[item.kind][ws_name(item.final_state)] += 1
        terminal = item.workflow_id and item.final_state in WORKFLOW_TERMINAL
        if terminal and item.final_state not in EXPECTED[item.kind]:
            report.failures.append(
                f"workflow {item.workflow_id} ({item.kind}) ended {ws_name(item.final_state)}"
            )
    report.figures["workflows_by_kind_and_state"] = {k: dict(v) for k, v in table.items()}


def check_database(
    submitted: Sequence[Submitted], database_url: str, report: ChaosReport
) -> set[tuple[str, str, int, int]]:
    """Checks PostgreSQL; returns the (workflow, task, attempt, placement) stored COMPLETED."""
    ours = {item.workflow_id: item for item in submitted if item.workflow_id}
    with psycopg.connect(database_url) as conn:
        total, distinct = conn.execute(
            "select count(*), count(distinct event_id) from events"
        ).fetchone() or (0, 0)
        payloads = [
            event_pb2.Event.FromString(bytes(row[0]))
            for row in conn.execute("select payload from events")
        ]
        tasks = conn.execute(
            "select workflow_id::text, task_id, state, attempt, placement from tasks"
        ).fetchall()
        workflows = conn.execute("select id::text, request_id, state from workflows").fetchall()
        dup_requests = conn.execute(
            "select request_id, count(*) from workflows where request_id is not null "
            "group by request_id having count(*) > 1"
        ).fetchall()
    report.figures["events"] = {"rows": total, "distinct_ids": distinct}
    if total != distinct:
        report.failures.append(f"{total - distinct} duplicate event ids")
    facts: Counter[tuple[str, str, int, int, int]] = Counter()
    terminal_task: set[tuple[str, str, int]] = set()
    workflow_events: set[tuple[str, int]] = set()
    for event in payloads:
        if event.HasField("task_event"):
            t = event.task_event
            facts[(event.workflow_id, t.task_id, t.attempt, t.placement, t.state)] += 1
            terminal_task.add((event.workflow_id, t.task_id, t.state))
        else:
            workflow_events.add((event.workflow_id, event.workflow_event.state))
    twice = [fact for fact, n in facts.items() if n > 1]
    if twice:
        report.failures.append(f"{len(twice)} task facts stored twice, e.g. {twice[:3]}")
    # Workflows: one per request id, the one the driver was given.
    report.figures["workflows_in_db"] = len(workflows)
    if dup_requests:
        report.failures.append(f"request ids with several workflows: {dup_requests[:5]}")
    by_request = {request_id: wid for wid, request_id, _ in workflows}
    wrong = [i.request_id for i in ours.values() if by_request.get(i.request_id) != i.workflow_id]
    if wrong:
        report.failures.append(f"request ids not mapped to their workflow: {wrong[:5]}")
    extra = len(workflows) - len(ours)
    if extra:
        report.failures.append(f"{extra} workflows in PostgreSQL the driver did not create")
    # Terminal workflows: their event, and a terminal event for every task.
    db_state = {wid: state for wid, _, state in workflows}
    no_wf_event = [
        wid
        for wid, state in db_state.items()
        if state in WORKFLOW_TERMINAL and (wid, state) not in workflow_events
    ]
    if no_wf_event:
        report.failures.append(
            f"{len(no_wf_event)} terminal workflows without their event: {no_wf_event[:5]}"
        )
    lacking: list[tuple[str, str, str]] = []
    not_terminal: list[tuple[str, str, str]] = []
    task_states: Counter[str] = Counter()
    for wid, task_id, state, _attempt, _placement in tasks:
        if db_state.get(wid) not in WORKFLOW_TERMINAL:
            continue
        task_states[ts_name(state)] += 1
        if state not in TASK_TERMINAL:
            not_terminal.append((wid, task_id, ts_name(state)))
        elif (wid, task_id, state) not in terminal_task:
            lacking.append((wid, task_id, ts_name(state)))
    report.figures["tasks_of_terminal_workflows"] = dict(task_states)
    if not_terminal:
        report.failures.append(
            f"{len(not_terminal)} tasks of terminal workflows not terminal: {not_terminal[:5]}"
        )
    if lacking:
        report.failures.append(f"{len(lacking)} tasks without their terminal event: {lacking[:5]}")
    return {
        (wid, task_id, attempt, placement)
        for wid, task_id, state, attempt, placement in tasks
        if state == TS.TASK_STATE_COMPLETED
    }


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def timeline(
    entries: Sequence[dict[str, Any]],
    key: tuple[str, str],
    journal: Sequence[tuple[float, str]] = (),
) -> list[str]:
    """What happened to one task, in time order: each participant's assignments, starts,
    finishes and acknowledgements (with the leader epoch of the stream each came on), and what
    the chaos driver did meanwhile (kills, elections)."""
    mine = [e for e in entries if (e["workflow_id"], e["task_id"]) == key]
    if not mine:
        return []
    lines = [
        (
            e["t"],
            f"{e['participant']} {e['event']} attempt {e['attempt']} placement "
            f"{e['placement']} {e['outcome'].removeprefix('TASK_OUTCOME_')} "
            f"epoch {e.get('epoch', '?')}".replace("  ", " "),
        )
        for e in mine
    ]
    begin, end = min(t for t, _ in lines) - 15, max(t for t, _ in lines) + 1
    lines += [(t, f"driver: {what}") for t, what in journal if begin <= t <= end]
    return [f"{_clock(t)} {what}" for t, what in sorted(lines)]


def check_ledger(
    ledger: Path,
    completed: set[tuple[str, str, int, int]],
    report: ChaosReport,
    journal: Sequence[tuple[float, str]] = (),
) -> None:
    entries: list[dict[str, Any]] = []
    torn = 0
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                torn += 1
    if torn:
        report.failures.append(f"{torn} torn ledger lines")
    Run = tuple[str, str, int, int]
    starts: dict[tuple[str, str], list[float]] = defaultdict(list)
    runs_per_attempt: Counter[tuple[str, str, int]] = Counter()
    finishes: dict[tuple[str, Run], str] = {}
    completed_runs: set[Run] = set()
    events: Counter[str] = Counter()
    for e in entries:
        events[e["event"]] += 1
        run: Run = (e["workflow_id"], e["task_id"], e["attempt"], e["placement"])
        if e["event"] == "start":
            starts[run[:2]].append(e["t"])
            runs_per_attempt[run[:3]] += 1
        elif e["event"] == "finish":
            finishes[(e["participant"], run)] = e["outcome"]
            if e["outcome"] == "TASK_OUTCOME_COMPLETED":
                completed_runs.add(run)
    first_ack: dict[tuple[str, str], float] = {}
    for e in entries:
        if e["event"] != "acked":
            continue
        run = (e["workflow_id"], e["task_id"], e["attempt"], e["placement"])
        outcome = e["outcome"] or finishes.get((e["participant"], run), "")
        if outcome == "TASK_OUTCOME_COMPLETED":
            key = run[:2]
            first_ack[key] = min(first_ack.get(key, e["t"]), e["t"])
    after_ack = [(key, t) for key, ack in first_ack.items() for t in starts.get(key, []) if t > ack]
    report.figures["ledger"] = {
        **dict(events),
        "tasks_started": len(starts),
        "re_executions": sum(len(ts) - 1 for ts in starts.values()),
        "re_placements_same_attempt": sum(n - 1 for n in runs_per_attempt.values()),
        "started_after_acked_completed": len(after_ack),
    }
    if after_ack:
        report.failures.append(
            f"{len(after_ack)} task runs started after a COMPLETED result was acknowledged, "
            f"e.g. {after_ack[:3]}"
        )
        keys = list(dict.fromkeys(key for key, _ in after_ack))[:3]
        report.figures["violation_timelines"] = {
            "/".join(key): timeline(entries, key, journal) for key in keys
        }
    never_ran = sorted(completed - completed_runs)
    if never_ran:
        report.failures.append(
            f"{len(never_ran)} tasks COMPLETED in PostgreSQL without a COMPLETED run in the "
            f"ledger, e.g. {never_ran[:3]}"
        )

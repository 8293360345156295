"""The chaos ledger, a participant task observer: one JSON line per event, in the format the
chaos checks read."""

from __future__ import annotations

import json
from pathlib import Path

from helicase.devstack.chaos_ledger import Ledger
from helicase.internal.v1 import participant_pb2
from helicase.participant.observers import TaskEvent


def test_the_ledger_appends_one_json_line_per_task_event(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(str(path))
    ref = participant_pb2.TaskRef(workflow_id="w", task_id="a", attempt=2, placement=3)
    ledger(TaskEvent(kind="start", participant="p1", ref=ref, epoch=7))
    ledger(
        TaskEvent(
            kind="finish",
            participant="p1",
            ref=ref,
            epoch=7,
            outcome=participant_pb2.TaskOutcome.TASK_OUTCOME_COMPLETED,
        )
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line["outcome"]) for line in lines] == [
        ("start", ""),
        ("finish", "TASK_OUTCOME_COMPLETED"),
    ]
    assert {
        (line["participant"], line["workflow_id"], line["task_id"], line["attempt"])
        for line in lines
    } == {("p1", "w", "a", 2)}
    assert {(line["placement"], line["epoch"]) for line in lines} == {(3, 7)}

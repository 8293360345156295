"""A workflow's coordination state as compact bytes for ZooKeeper (zlib-compressed JSON).

Holds the definition and, per task, only (state, attempt, placement, participant,
replacements, final, outputs): no znode per task.
"""

from __future__ import annotations

import base64
import json
import zlib

from helicase.controller import _dag
from helicase.controller._model import TS, WorkflowRun
from helicase.v1 import workflow_pb2

VERSION = 1


def encode(workflow: WorkflowRun) -> bytes:
    tasks = [
        [r.state, r.attempt, r.placement, r.participant, r.replacements, int(r.final), r.outputs]
        for r in workflow.runs
    ]
    doc = {
        "v": VERSION,
        "definition": base64.b64encode(workflow.definition.SerializeToString()).decode(),
        "state": workflow.state,
        "message": workflow.message,
        "start": workflow.start_time,
        "end": workflow.end_time,
        "failed": workflow.failed,
        "tasks": tasks,
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def decode(data: bytes) -> WorkflowRun:
    doc = json.loads(zlib.decompress(data))
    definition = workflow_pb2.Workflow.FromString(base64.b64decode(doc["definition"]))
    workflow = _dag.build(definition)
    workflow.state = doc["state"]
    workflow.message = doc["message"]
    workflow.start_time = doc["start"]
    workflow.end_time = doc["end"]
    workflow.failed = doc["failed"]
    for run, row in zip(workflow.runs, doc["tasks"], strict=True):
        run.state, run.attempt, run.placement, run.participant, run.replacements = row[:5]
        run.final = bool(row[5])
        run.outputs = row[6]
    for index, run in enumerate(workflow.runs):
        if run.final:
            workflow.unfinished -= 1
        if run.state == TS.TASK_STATE_COMPLETED:
            for dependent in workflow.specs[index].dependents:
                workflow.runs[dependent].waiting -= 1
    return workflow

"""The retention archive's lines and files, and the age a purge may use (pure, no database)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import duration_pb2

from helicase.api.retention.archive import ArchivedWorkflow, append_fsynced, path_of, workflow_json
from helicase.api.retention.validation import age_of
from helicase.common.errors import FailedPrecondition, InvalidArgument
from helicase.v1 import retention_pb2, workflow_pb2

ENDED = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_a_workflow_goes_to_its_tenants_file_of_the_utc_day_it_ended(tmp_path: Path) -> None:
    in_local_zone = ENDED.astimezone(datetime.now().astimezone().tzinfo)
    assert path_of(tmp_path, "chem", in_local_zone) == tmp_path / "chem" / "2026-11-30.jsonl"


def test_lines_are_appended_one_per_workflow_and_readable_as_json(tmp_path: Path) -> None:
    definition = workflow_pb2.Workflow(display_name="w", tasks=[workflow_pb2.Task(id="a")])
    header = workflow_json(
        {"id": uuid.uuid4(), "tenant": "chem", "state": workflow_pb2.WORKFLOW_STATE_FAILED,
         "definition": definition.SerializeToString(), "end_time": ENDED, "labels": {"k": "v"}}
    )  # fmt: skip
    assert header["state"] == "WORKFLOW_STATE_FAILED"
    assert header["definition"]["tasks"] == [{"id": "a"}]
    assert header["end_time"] == "2026-11-30T23:30:00+00:00"
    doc = {"workflow": header, "tasks": [], "events": []}
    for _ in range(2):
        written = append_fsynced(tmp_path, [ArchivedWorkflow("chem", ENDED, doc)])
    lines = written[0].read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1]) == doc


def test_an_archive_that_cannot_be_written_raises(tmp_path: Path) -> None:
    (tmp_path / "chem").write_text("not a directory")
    with pytest.raises(OSError):
        append_fsynced(tmp_path, [ArchivedWorkflow("chem", ENDED, {"workflow": {}})])


def test_an_override_may_only_keep_more_than_the_ttl() -> None:
    ttl = timedelta(days=30)
    asked = retention_pb2.PurgeWorkflowsRequest()
    assert age_of(asked, ttl) == ttl
    asked.older_than.CopyFrom(duration_pb2.Duration(seconds=90 * 86400))
    assert age_of(asked, ttl) == timedelta(days=90)
    for seconds in (3600, -1, 10**12):
        asked.older_than.CopyFrom(duration_pb2.Duration(seconds=seconds))
        with pytest.raises(InvalidArgument):
            age_of(asked, ttl)
    with pytest.raises(FailedPrecondition):
        age_of(retention_pb2.PurgeWorkflowsRequest(), timedelta(0))

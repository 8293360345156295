"""The typed outputs of the airavata task types: references, and reading a task's outputs."""

from __future__ import annotations

import re

import pytest
from google.protobuf import json_format, struct_pb2

from helicase.common.task_outputs import (
    AIRAVATA_OUTPUTS,
    ArchiveOutputs,
    MonitorJobOutputs,
    StagedFile,
    StageInOutputs,
    SubmitJobOutputs,
    TaskOutputError,
)
from helicase.participant.sdk import REFERENCE_PATTERN


def test_a_reference_names_the_task_and_a_declared_output() -> None:
    ref = SubmitJobOutputs.ref("submit", "job_id")
    assert ref == "${tasks.submit.outputs.job_id}"
    assert re.fullmatch(REFERENCE_PATTERN, ref)
    with pytest.raises(KeyError):
        SubmitJobOutputs.ref("submit", "jobid")


def test_outputs_read_back_through_a_protobuf_struct_keep_their_types() -> None:
    sent = StageInOutputs(remote_dir="/s", files=[StagedFile(path="/s/a", sha256="x", bytes=3)])
    struct = struct_pb2.Struct()
    struct.update(sent.to_dict())  # numbers become doubles on the way
    read = StageInOutputs.parse(json_format.MessageToDict(struct), task_id="stage-in")
    assert read == sent
    assert isinstance(read.files[0].bytes, int)


@pytest.mark.parametrize(
    ("outputs", "named"),
    [
        ({"job_id": "1", "state": "COMPLETED"}, "'exit_code'"),
        ({"job_id": "1", "state": "COMPLETED", "exit_code": "0"}, "'exit_code' is not an integer"),
        ({"job_id": "1", "state": "COMPLETED", "exit_code": 0.5}, "'exit_code' is not an integer"),
        (None, "'job_id'"),
    ],
)
def test_a_missing_or_mistyped_output_is_an_error_naming_it(
    outputs: dict[str, object] | None, named: str
) -> None:
    with pytest.raises(TaskOutputError, match=named) as caught:
        MonitorJobOutputs.parse(outputs, task_id="monitor")
    assert "task 'monitor' (airavata.monitor_job)" in str(caught.value)


def test_a_nested_output_names_its_path() -> None:
    bad = {"remote_dir": "/s", "files": [{"path": "/s/a", "sha256": "x"}]}
    with pytest.raises(TaskOutputError, match="'bytes'"):
        StageInOutputs.parse(bad, task_id="stage-in")


def test_every_airavata_task_type_is_declared_in_order() -> None:
    assert next(iter(AIRAVATA_OUTPUTS)) == "airavata.env_setup"
    assert AIRAVATA_OUTPUTS["airavata.archive"] is ArchiveOutputs
    assert len(AIRAVATA_OUTPUTS) == 7

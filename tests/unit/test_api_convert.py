"""Page tokens and the building of Workflow messages from projection rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helicase.api import paging
from helicase.api.convert import definition_of, parse_id, workflow_message
from helicase.common.states import TS
from helicase.v1 import workflow_pb2

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    when=st.datetimes(timezones=st.just(UTC)),
    ident=st.uuids(),
)
def test_page_token_round_trips(when: datetime, ident: uuid.UUID) -> None:
    token = paging.encode([when, ident, "name"], "digest")
    assert paging.decode(token) == ((when, ident, "name"), "digest")


@pytest.mark.parametrize("token", ["garbage", "", "W10=", "WyJ4IiwgInkiXQ==", "!!!"])
def test_foreign_page_token_is_a_value_error(token: str) -> None:
    with pytest.raises(ValueError):
        paging.decode(token)


def test_malformed_id_parses_to_none() -> None:
    assert parse_id("not-a-uuid") is None
    assert parse_id("") is None
    ident = uuid.uuid4()
    assert parse_id(str(ident)) == ident


def test_definition_drops_output_fields_and_fills_defaults() -> None:
    submitted = workflow_pb2.Workflow(display_name="w", labels={"a": "b"})
    task = submitted.tasks.add(id="a", type="noop", state=TS.TASK_STATE_RUNNING, attempt=3)
    task.params.update({"x": 1})
    out = definition_of(submitted)
    assert out.failure_policy == workflow_pb2.FAILURE_POLICY_FAIL_FAST
    assert out.tasks[0].instance_group == "default"
    assert out.tasks[0].state == TS.TASK_STATE_UNSPECIFIED
    assert out.tasks[0].attempt == 0
    assert out.tasks[0].params["x"] == 1


def _row(definition: workflow_pb2.Workflow) -> dict[str, object]:
    return {
        "id": uuid.UUID(int=7), "tenant": "demo", "definition": definition.SerializeToString(),
        "state": workflow_pb2.WORKFLOW_STATE_RUNNING, "message": "",
        "create_time": T0, "start_time": T0 + timedelta(seconds=1), "end_time": None,
        "task_count": len(definition.tasks),
    }  # fmt: skip


def test_full_workflow_carries_task_state_attempts_and_counts() -> None:
    definition = workflow_pb2.Workflow(display_name="w")
    definition.tasks.add(id="a", type="noop")
    definition.tasks.add(id="b", type="noop")
    tasks = [
        {"task_id": "a", "state": TS.TASK_STATE_COMPLETED, "attempt": 2, "participant": "p2",
         "message": "ok", "outputs": {"n": 1}},
        {"task_id": "b", "state": TS.TASK_STATE_PENDING, "attempt": 0, "participant": "",
         "message": "", "outputs": None},
    ]  # fmt: skip
    attempts = [
        {"task_id": "a", "attempt": 2, "state": TS.TASK_STATE_COMPLETED, "participant": "p2",
         "message": "ok", "start_time": T0 + timedelta(seconds=5),
         "end_time": T0 + timedelta(seconds=6)},
        {"task_id": "a", "attempt": 1, "state": TS.TASK_STATE_FAILED, "participant": "p1",
         "message": "boom", "start_time": T0, "end_time": T0 + timedelta(seconds=1)},
    ]  # fmt: skip
    out = workflow_message(_row(definition), tasks=tasks, attempts=attempts)
    assert out.id == str(uuid.UUID(int=7))
    a, b = out.tasks
    assert [x.attempt for x in a.attempts] == [1, 2]
    assert a.start_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=5)
    assert a.end_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=6)
    assert a.outputs["n"] == 1
    assert not b.HasField("start_time")
    assert dict(out.task_counts) == {"TASK_STATE_COMPLETED": 1, "TASK_STATE_PENDING": 1}


def test_basic_workflow_has_counts_but_no_tasks() -> None:
    definition = workflow_pb2.Workflow(display_name="w")
    definition.tasks.add(id="a", type="noop")
    out = workflow_message(_row(definition), tasks=None, counts={TS.TASK_STATE_RUNNING: 1})
    assert len(out.tasks) == 0
    assert dict(out.task_counts) == {"TASK_STATE_RUNNING": 1}

"""Who may have a credential resolved (helicase.api.resources.holders, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from helicase.api.resources.holders import check_holder, names_credential
from helicase.common.errors import PermissionDenied
from helicase.common.tls import Identity
from helicase.internal.v1 import controller_pb2, participant_pb2
from helicase.v1 import workflow_pb2

REF = participant_pb2.TaskRef(workflow_id="w", task_id="a", attempt=2, placement=1)
HOLDER = Identity("participant", "p1", "default")


def task(params: dict[str, Any]) -> workflow_pb2.Task:
    made = workflow_pb2.Task(id="a", type="airavata.stage_in")
    made.params.update(params)
    return made


def held(params: dict[str, Any], participant: str = "p1") -> controller_pb2.GetTaskHolderResponse:
    return controller_pb2.GetTaskHolderResponse(
        placement=REF, participant=participant, task=task(params)
    )


def test_a_credential_is_named_by_a_string_value_anywhere_in_the_params() -> None:
    assert names_credential(task({"compute": {"credential_id": "c1"}}), "c1")
    assert names_credential(task({"list": [{"x": ["c1"]}]}), "c1")
    assert not names_credential(task({"compute": {"credential_id": "c10"}}), "c1")
    assert not names_credential(task({"command": "echo c1"}), "c1")


def test_the_holder_of_a_task_naming_the_credential_gets_it() -> None:
    check_holder(HOLDER, "c1", REF, held({"credential_id": "c1"}))


@pytest.mark.parametrize(
    ("who", "ref", "holder"),
    [
        (Identity("participant", "p2", "default"), REF, held({"credential_id": "c1"})),
        (HOLDER, REF, held({"credential_id": "c2"})),
        (HOLDER, REF, None),
        (HOLDER, REF, held({"credential_id": "c1"}, participant="")),
        (
            HOLDER,
            participant_pb2.TaskRef(workflow_id="w", task_id="a", attempt=1, placement=1),
            held({"credential_id": "c1"}),
        ),
        (Identity("scheduler", "p1"), REF, held({"credential_id": "c1"})),
        (Identity("participant", "p1", "gpu"), REF, held({"credential_id": "c1"})),
    ],
)
def test_anyone_else_is_refused(
    who: Identity, ref: participant_pb2.TaskRef, holder: controller_pb2.GetTaskHolderResponse | None
) -> None:
    with pytest.raises(PermissionDenied):
        check_holder(who, "c1", ref, holder)

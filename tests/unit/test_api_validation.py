"""CreateWorkflow validation: every rule, each violation named by its proto field path."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.protobuf import json_format

from helicase.api.workflows.validation import Limits, SchemaCache, validate_create
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import workflow_service_pb2

TYPES: dict[str, dict[str, Any]] = {
    "noop": {"type": "object"},
    "sleep": {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0}},
        "required": ["seconds"],
    },
    "shell": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "fatal_exit_codes": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}


def request(
    tasks: list[dict[str, Any]], request_id: str = "", **workflow: Any
) -> workflow_service_pb2.CreateWorkflowRequest:
    body = {"requestId": request_id, "workflow": {**workflow, "tasks": tasks}}
    return json_format.ParseDict(body, workflow_service_pb2.CreateWorkflowRequest())


def violations(req: workflow_service_pb2.CreateWorkflowRequest, **kw: Any) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        validate_create(req, TYPES, **kw)
    return caught.value.violations


def fields(req: workflow_service_pb2.CreateWorkflowRequest, **kw: Any) -> list[str]:
    return [v.field for v in violations(req, **kw)]


def test_a_valid_workflow_passes() -> None:
    validate_create(
        request(
            [
                {"id": "a", "type": "noop"},
                {"id": "b", "type": "sleep", "params": {"seconds": 1}, "dependsOn": ["a"]},
                {"id": "c", "type": "shell", "params": {"command": "true"}, "dependsOn": ["a", "b"],
                 "retry": {"maxAttempts": 3, "initialBackoff": "0.2s", "multiplier": 1.5},
                 "timeout": "30s", "instanceGroup": "gpu-1"},
            ],
            request_id="r-1", displayName="hello", labels={"team": "chem", "app.io/x": "y"},
        ),
        TYPES,
    )  # fmt: skip


def test_missing_workflow_and_empty_workflow_are_refused() -> None:
    assert fields(workflow_service_pb2.CreateWorkflowRequest()) == ["workflow"]
    assert fields(request([])) == ["workflow.tasks"]


def test_too_many_tasks_is_refused() -> None:
    tasks = [{"id": f"t{i}", "type": "noop"} for i in range(5)]
    assert fields(request(tasks), limits=Limits(max_tasks=4)) == ["workflow.tasks"]


def test_a_definition_over_the_byte_limit_is_refused_whole() -> None:
    tasks = [{"id": f"t{i}", "type": "noop"} for i in range(100)]
    found = violations(request(tasks), limits=Limits(max_bytes=500))
    assert [v.field for v in found] == ["workflow"]
    assert "the limit is 500" in found[0].description
    validate_create(request(tasks), TYPES, limits=Limits(max_bytes=5000))


@pytest.mark.parametrize("bad", ["", "A", "-a", "a b", "a.b", "x" * 64, "é"])
def test_bad_task_id_is_refused(bad: str) -> None:
    assert "workflow.tasks[0].id" in fields(request([{"id": bad, "type": "noop"}]))


def test_longest_task_id_is_accepted() -> None:
    validate_create(request([{"id": "a" * 63, "type": "noop"}]), TYPES)


def test_duplicate_id_names_the_second_task() -> None:
    found = violations(request([{"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}]))
    assert [v.field for v in found] == ["workflow.tasks[1].id"]
    assert "duplicate" in found[0].description


def test_unknown_dependency_names_the_dependency() -> None:
    req = request(
        [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a", "z"]}]
    )
    found = violations(req)
    assert [v.field for v in found] == ["workflow.tasks[1].depends_on[1]"]
    assert "'z'" in found[0].description


def test_self_dependency_is_refused() -> None:
    assert fields(request([{"id": "a", "type": "noop", "dependsOn": ["a"]}])) == [
        "workflow.tasks[0].depends_on[0]"
    ]


def test_cycle_is_reported_with_its_path_on_the_first_task_of_the_cycle() -> None:
    req = request(
        [
            {"id": "root", "type": "noop"},
            {"id": "a", "type": "noop", "dependsOn": ["root", "b"]},
            {"id": "b", "type": "noop", "dependsOn": ["c"]},
            {"id": "c", "type": "noop", "dependsOn": ["a"]},
        ]
    )
    found = violations(req)
    assert len(found) == 1
    assert found[0].field == "workflow.tasks[1].depends_on[1]"
    assert found[0].description == "cycle a -> b -> c -> a"


def test_two_task_cycle() -> None:
    req = request([{"id": "a", "type": "noop", "dependsOn": ["b"]},
                   {"id": "b", "type": "noop", "dependsOn": ["a"]}])  # fmt: skip
    assert [v.description for v in violations(req)] == ["cycle a -> b -> a"]


def test_unknown_task_type_lists_the_known_ones() -> None:
    found = violations(request([{"id": "a", "type": "teleport"}]))
    assert [v.field for v in found] == ["workflow.tasks[0].type"]
    assert "noop" in found[0].description


def test_params_are_checked_against_the_type_schema_with_nested_paths() -> None:
    req = request(
        [
            {"id": "a", "type": "sleep", "params": {"seconds": "soon"}},
            {"id": "b", "type": "sleep", "params": {}},
            {"id": "c", "type": "shell", "params": {"command": "x", "fatal_exit_codes": [1, 2.5]}},
        ]
    )
    assert fields(req) == [
        "workflow.tasks[0].params.seconds",
        "workflow.tasks[1].params",
        "workflow.tasks[2].params.fatal_exit_codes[1]",
    ]


def test_whole_float_passes_an_integer_schema() -> None:
    # A proto Struct holds every number as a double: 3 arrives as 3.0.
    req = request(
        [{"id": "a", "type": "shell", "params": {"command": "x", "fatal_exit_codes": [3]}}]
    )
    codes = req.workflow.tasks[0].params.fields["fatal_exit_codes"].list_value.values
    assert codes[0].number_value == 3.0
    validate_create(req, TYPES)


def test_oversize_params_are_refused() -> None:
    req = request([{"id": "a", "type": "shell", "params": {"command": "x" * 70_000}}])
    found = violations(req)
    assert [v.field for v in found] == ["workflow.tasks[0].params"]
    assert "limit" in found[0].description


def test_retry_and_timeout_limits() -> None:
    req = request(
        [
            {"id": "a", "type": "noop", "retry": {"maxAttempts": 101}},
            {"id": "b", "type": "noop", "retry": {"maxAttempts": -1, "initialBackoff": "-1s",
                                                    "maxBackoff": "-0.5s", "multiplier": 0.5}},
            {"id": "c", "type": "noop", "timeout": "-3s"},
            {"id": "d", "type": "noop", "retry": {"maxAttempts": 100, "multiplier": 1}},
        ]
    )  # fmt: skip
    assert fields(req) == [
        "workflow.tasks[0].retry.max_attempts",
        "workflow.tasks[1].retry.max_attempts",
        "workflow.tasks[1].retry.initial_backoff",
        "workflow.tasks[1].retry.max_backoff",
        "workflow.tasks[1].retry.multiplier",
        "workflow.tasks[2].timeout",
    ]


def test_a_timeout_or_backoff_longer_than_a_year_is_refused() -> None:
    # Unbounded, int64 seconds passed the api and overflowed the controller's timedelta.
    year = 366 * 24 * 3600
    req = request(
        [
            {"id": "a", "type": "noop", "timeout": f"{year}s",
             "retry": {"initialBackoff": f"{year}s", "maxBackoff": f"{year}s"}},
            {"id": "b", "type": "noop", "timeout": f"{year + 1}s",
             "retry": {"initialBackoff": f"{year + 1}s", "maxBackoff": "315576000000s"}},
        ]
    )  # fmt: skip
    req.workflow.tasks[1].timeout.seconds = 2**62  # beyond what JSON may say
    assert fields(req) == [
        "workflow.tasks[1].retry.initial_backoff",
        "workflow.tasks[1].retry.max_backoff",
        "workflow.tasks[1].timeout",
    ]
    assert "at most 366 days" in str(violations(req)[0].description)


def test_display_name_labels_group_and_request_id_limits() -> None:
    labels = {f"k{i}": "v" for i in range(33)}
    req = request(
        [{"id": "a", "type": "noop", "instanceGroup": "Bad Group"}],
        request_id="r" * 129, displayName="n" * 201, labels=labels,
    )  # fmt: skip
    assert fields(req) == [
        "request_id",
        "workflow.display_name",
        "workflow.labels",
        "workflow.tasks[0].instance_group",
    ]
    req = request([{"id": "a", "type": "noop"}], labels={"Bad": "v", "ok": "x" * 64})
    assert fields(req) == ["workflow.labels[Bad]", "workflow.labels[ok]"]


def test_all_violations_are_reported_together() -> None:
    req = request(
        [
            {"id": "a", "type": "teleport"},
            {"id": "a", "type": "noop", "dependsOn": ["ghost"]},
            {"id": "B", "type": "sleep", "params": {"seconds": -1}},
        ],
        displayName="n" * 201,
    )
    assert fields(req) == [
        "workflow.display_name",
        "workflow.tasks[0].type",
        "workflow.tasks[1].id",
        "workflow.tasks[2].id",
        "workflow.tasks[2].params.seconds",
        "workflow.tasks[1].depends_on[0]",
    ]


def test_a_broken_schema_does_not_block_the_type() -> None:
    validate_create(request([{"id": "a", "type": "odd"}]), {"odd": {"type": 12}})


def test_schema_cache_recompiles_when_the_schema_changes() -> None:
    cache = SchemaCache()
    first = cache.validator("t", {"type": "object"})
    assert cache.validator("t", {"type": "object"}) is first
    assert cache.validator("t", {"type": "object", "required": ["x"]}) is not first


def test_hundred_thousand_task_chain_validates_quickly() -> None:
    n = 100_000
    req = workflow_service_pb2.CreateWorkflowRequest()
    req.workflow.display_name = "test"
    for i in range(n):  # built as protobuf: parsing the same from JSON takes longer than the check
        task = req.workflow.tasks.add(id=f"t{i}", type="sleep")
        task.params.update({"seconds": 0})
        if i:
            task.depends_on.append(f"t{i - 1}")
    started = time.perf_counter()
    validate_create(req, TYPES, schemas=SchemaCache())
    assert time.perf_counter() - started < 20


def test_long_cycle_is_found_without_recursion_limits() -> None:
    n = 5_000
    tasks = [{"id": f"t{i}", "type": "noop", "dependsOn": [f"t{(i + 1) % n}"]} for i in range(n)]
    found = violations(request(tasks))
    assert len(found) == 1
    assert found[0].description.startswith("cycle t0 -> t1 -> ")
    assert found[0].description.endswith(" -> t0")


def test_tasks_with_the_same_params_are_each_named() -> None:
    bad = {"seconds": -1}
    tasks = [
        {"id": "a", "type": "sleep", "params": bad},
        {"id": "b", "type": "noop", "params": bad},  # the same params, another type: fine
        {"id": "c", "type": "sleep", "params": bad},
        {"id": "d", "type": "sleep", "params": {"seconds": float("nan")}},
        {"id": "e", "type": "sleep", "params": {"seconds": float("nan")}},
    ]
    assert fields(request(tasks)) == [
        "workflow.tasks[0].params.seconds",
        "workflow.tasks[2].params.seconds",
        "workflow.tasks[3].params",
        "workflow.tasks[4].params",
    ]

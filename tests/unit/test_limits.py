"""The limits on what callers and tasks send (helicase.common.limits) and the edge checks that
apply them: each over-limit field is named, NaN and Infinity never pass as JSON."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import struct_pb2

from helicase.api.events.validation import check_events
from helicase.api.experiments.validation import validate_cancel as validate_experiment_cancel
from helicase.api.experiments.validation import validate_experiment
from helicase.api.workflows.validation import validate_cancel, validate_create, validate_list
from helicase.common import events, limits
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.common.states import TS
from helicase.common.status import invalid_argument_status
from helicase.internal.v1 import event_pb2
from helicase.v1 import experiment_pb2, workflow_pb2, workflow_service_pb2

WORKFLOW_ID = "6f1c1f4e-3b53-4a57-9f25-6a3c4cf0d2a1"
TYPES: dict[str, dict[str, Any]] = {"noop": {"type": "object"}}


def fields_of(exc: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in exc.value.violations]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"d": value}
    return value


# --- the pure checks


def test_json_problem_names_where_a_non_finite_number_is() -> None:
    assert limits.json_problem({"a": [0, {"b": math.nan}]}) == "NaN at $.a[1].b"
    assert limits.json_problem({"a": -math.inf}) == "-Infinity at $.a"
    assert limits.json_problem({"a": [1, "x", None, True, {"b": 2.5}]}) is None


def test_json_problem_bounds_nesting_without_recursion() -> None:
    assert limits.json_problem(nested(limits.JSON_DEPTH - 1)) is None  # JSON_DEPTH objects
    assert "nested deeper than" in (limits.json_problem(nested(limits.JSON_DEPTH)) or "")
    assert "nested deeper than" in (limits.json_problem(nested(100_000)) or "")


def test_struct_problem_reads_nan_a_struct_carries() -> None:
    struct = struct_pb2.Struct()
    struct.update({"ok": 1, "list": [1, {"x": math.inf}]})
    assert limits.struct_problem(struct) == "Infinity at $.list[1].x"
    deep = struct_pb2.Struct()
    deep.update(nested(limits.JSON_DEPTH))
    assert "nested deeper than" in (limits.struct_problem(deep) or "")
    deep = struct_pb2.Struct()
    deep.update(nested(limits.JSON_DEPTH - 1))
    assert limits.struct_problem(deep) is None


def test_outputs_problem_measures_compact_json_bytes() -> None:
    assert limits.outputs_problem({"x": "a" * 100}, limit=200) is None
    assert limits.outputs_problem({"x": "a" * 300}, limit=200) == (
        "outputs are 308 bytes as JSON; the limit is 200"
    )
    assert limits.outputs_problem({"x": {1, 2}}) is not None  # a set is no JSON
    assert limits.outputs_problem([1]) == "outputs must be a JSON object"


def test_struct_and_dict_outputs_are_measured_alike() -> None:
    outputs: dict[str, Any] = {"numbers": list(range(2000)), "text": "é" * 1000}
    struct = struct_pb2.Struct()
    struct.update(outputs)
    near = len(str(outputs))  # any limit: both checks must agree
    for limit in (near // 2, near, near * 2):
        assert (limits.outputs_problem(outputs, limit) is None) == (
            limits.outputs_struct_problem(struct, limit) is None
        )


def test_truncate_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert limits.truncate("short") == "short"
    cut = limits.truncate("x" * 10_000, 100)
    assert len(cut) == 100 and cut.endswith("(truncated)")


def test_the_largest_allowed_outputs_and_message_fit_in_one_event() -> None:
    # The worst Struct-to-JSON ratio: a list of one-digit numbers.
    outputs = {"n": [1] * (limits.OUTPUTS_BYTES // 4 - 10)}  # "1.0," each
    assert limits.outputs_problem(outputs) is None
    struct = struct_pb2.Struct()
    struct.update(outputs)
    event = events.task_event(
        workflow_id=WORKFLOW_ID, task_id="t" * limits.TASK_ID, attempt=1, placement=0,
        state=TS.TASK_STATE_COMPLETED, source="s" * 100, participant="p" * 100,
        message="€" * 10 * limits.MESSAGE, outputs=struct,
    )  # fmt: skip
    assert event.ByteSize() <= limits.EVENT_BYTES
    check_events(event_pb2.RecordEventsRequest(events=[event]))


# --- RecordEvents


def task_event(**fields: Any) -> event_pb2.Event:
    return events.task_event(
        workflow_id=WORKFLOW_ID, task_id="a", attempt=1, placement=0,
        state=TS.TASK_STATE_COMPLETED, source="test", **fields,
    )  # fmt: skip


def outputs(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_record_events_refuses_non_finite_outputs_naming_the_event(bad: float) -> None:
    good = task_event(outputs=outputs({"x": 1}))
    with pytest.raises(InvalidArgument) as exc:
        check_events(
            event_pb2.RecordEventsRequest(events=[good, task_event(outputs=outputs({"x": bad}))])
        )
    assert fields_of(exc) == ["events[1].task_event.outputs"]
    assert "not finite JSON" in exc.value.violations[0].description


def test_record_events_refuses_oversize_outputs_messages_and_events() -> None:
    big = task_event(outputs=outputs({"x": "y" * limits.OUTPUTS_BYTES}))
    long = task_event()
    long.task_event.message = "m" * (limits.MESSAGE + 1)  # past the constructor's truncation
    huge = task_event()
    huge.task_event.participant = "p" * limits.EVENT_BYTES
    wf = events.workflow_event(workflow_id=WORKFLOW_ID, state=1, source="s")
    wf.workflow_event.message = "m" * (limits.MESSAGE + 1)
    with pytest.raises(InvalidArgument) as exc:
        check_events(event_pb2.RecordEventsRequest(events=[big, long, huge, wf]))
    assert fields_of(exc) == [
        "events[0].task_event.outputs",
        "events[1].task_event.message",
        "events[2]",
        "events[3].workflow_event.message",
    ]


def test_event_constructors_truncate_every_producers_message() -> None:
    event = task_event(message="x" * 100_000)
    assert len(event.task_event.message) == limits.MESSAGE
    wf = events.workflow_event(workflow_id=WORKFLOW_ID, state=1, source="s", message="y" * 10**5)
    assert len(wf.workflow_event.message) == limits.MESSAGE


# --- the public edge


def create(**workflow: Any) -> workflow_service_pb2.CreateWorkflowRequest:
    request = workflow_service_pb2.CreateWorkflowRequest()
    request.workflow.tasks.add(id="a", type="noop")
    for name, value in workflow.items():
        if name == "labels":
            request.workflow.labels.update(value)
        else:
            setattr(request.workflow, name, value)
    return request


def test_cancel_reason_over_its_limit_is_refused_naming_reason() -> None:
    validate_cancel(workflow_service_pb2.CancelWorkflowRequest(id="x", reason="r" * limits.REASON))
    with pytest.raises(InvalidArgument) as exc:
        validate_cancel(workflow_service_pb2.CancelWorkflowRequest(id="x", reason="r" * 200_000))
    assert fields_of(exc) == ["reason"]
    with pytest.raises(InvalidArgument) as exc:
        validate_experiment_cancel(
            experiment_pb2.CancelExperimentRequest(id="x", reason="r" * (limits.REASON + 1))
        )
    assert fields_of(exc) == ["reason"]


def test_labels_over_their_limits_are_refused_each_named() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_create(create(labels={f"k{i}": "v" for i in range(limits.LABELS + 1)}), TYPES)
    assert fields_of(exc) == ["workflow.labels"]
    long_key = "k" * (limits.LABEL_KEY + 1)
    labels = {long_key: "v", "team": "v" * (limits.LABEL_VALUE + 1)}
    with pytest.raises(InvalidArgument) as exc:
        validate_create(create(labels=labels), TYPES)
    assert fields_of(exc) == [
        f"workflow.labels[{long_key[: limits.LABEL_KEY]}]",
        "workflow.labels[team]",
    ]


def test_display_name_and_request_id_over_their_limits_are_refused() -> None:
    request = create(display_name="n" * (limits.DISPLAY_NAME + 1))
    request.request_id = "r" * (limits.REQUEST_ID + 1)
    with pytest.raises(InvalidArgument) as exc:
        validate_create(request, TYPES)
    assert fields_of(exc) == ["request_id", "workflow.display_name"]


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"x": math.nan}, "is not finite JSON: NaN at $.x"),
        ({"x": [math.inf]}, "is not finite JSON: Infinity at $.x[0]"),
        (nested(limits.JSON_DEPTH + 1), "is not finite JSON: nested deeper than"),
    ],
)
def test_params_that_are_not_finite_json_are_refused(params: dict[str, Any], said: str) -> None:
    request = create()
    request.workflow.tasks[0].params.update(params)
    with pytest.raises(InvalidArgument) as exc:
        validate_create(request, TYPES)
    assert fields_of(exc) == ["workflow.tasks[0].params"]
    assert exc.value.violations[0].description.startswith(said)


def test_task_type_and_depends_on_over_their_limits_are_refused() -> None:
    request = create()
    request.workflow.tasks[0].type = "t" * (limits.TASK_TYPE + 1)
    request.workflow.tasks.add(id="b", type="noop", depends_on=["a"] * (limits.DEPENDS_ON + 1))
    with pytest.raises(InvalidArgument) as exc:
        validate_create(request, TYPES)
    assert fields_of(exc)[:2] == ["workflow.tasks[0].type", "workflow.tasks[1].depends_on"]


def test_what_an_experiment_carries_is_bounded() -> None:
    experiment = experiment_pb2.Experiment(
        display_name="d" * (limits.DISPLAY_NAME + 1),
        compute_resource_id="c", storage_resource_id="s", credential_id="k",
        application=experiment_pb2.ApplicationSpec(
            executable="e" * (limits.EXECUTABLE + 1),
            arguments=["a"] * (limits.ARGUMENTS + 1),
            environment={"V": "v" * (limits.EXECUTABLE + 1)},
        ),
    )  # fmt: skip
    experiment.inputs.add(storage_path="p" * (limits.EXECUTABLE + 1), name="in")
    with pytest.raises(InvalidArgument) as exc:
        validate_experiment(experiment_pb2.CreateExperimentRequest(experiment=experiment))
    assert fields_of(exc) == [
        "experiment.display_name",
        "experiment.application.executable",
        "experiment.application.arguments",
        "experiment.application.environment[V]",
        "experiment.inputs[0].storage_path",
    ]


def test_a_workflow_at_every_limit_is_accepted() -> None:
    request = create(
        display_name="n" * limits.DISPLAY_NAME,
        labels={
            f"k{i:0{limits.LABEL_KEY - 1}d}": "v" * limits.LABEL_VALUE for i in range(limits.LABELS)
        },
    )
    request.request_id = "r" * limits.REQUEST_ID
    request.workflow.tasks[0].params.update(nested(limits.JSON_DEPTH - 1))
    validate_create(request, TYPES)
    assert isinstance(request.workflow, workflow_pb2.Workflow)


def test_list_filters_are_bounded_like_the_labels_they_match() -> None:
    validate_list(workflow_service_pb2.ListWorkflowsRequest(labels={"helicase-schedule": "x"}))
    request = workflow_service_pb2.ListWorkflowsRequest(
        labels={"team": "v" * (limits.LABEL_VALUE + 1)},
        states=[workflow_pb2.WORKFLOW_STATE_RUNNING] * 1000,
    )
    with pytest.raises(InvalidArgument) as exc:
        validate_list(request)
    assert fields_of(exc) == ["labels[team]", "states"]


def test_the_violations_an_error_carries_fit_in_a_grpc_trailer() -> None:
    many = [
        FieldViolation(f"workflow.tasks[{i}].depends_on[0]", "x" * 100_000) for i in range(10**4)
    ]
    shown = limits.shown_violations(many)
    assert sum(len(v.field) + len(v.description) for v in shown) <= limits.VIOLATIONS_BYTES
    assert shown[0].field == many[0].field
    assert shown[-1].description.endswith(f"and {len(many) - len(shown) + 1} more violations")
    few = [FieldViolation("reason", "is 200000 characters; the limit is 1024")]
    assert limits.shown_violations(few) == few


def test_an_invalid_argument_about_a_huge_request_stays_small() -> None:
    violations = [FieldViolation("f" * 10**5, "d" * 10**5) for _ in range(1000)]
    status = invalid_argument_status(InvalidArgument(violations))
    trailers = dict(status.trailing_metadata)
    assert len(status.details) <= limits.ERROR_MESSAGE
    # gRPC clients refuse trailers over 8 KiB in all; details travel base64-encoded.
    assert len(trailers["grpc-status-details-bin"]) * 4 / 3 + len(status.details) < 7 * 1024


def test_record_events_refuses_timestamps_postgresql_cannot_store() -> None:
    late = task_event()
    late.time.seconds = 2**63 - 1  # what the fuzzer sent: the sink's insert failed for good
    early = task_event()
    early.task_event.start_time.seconds = -(2**62)
    with pytest.raises(InvalidArgument) as exc:
        check_events(event_pb2.RecordEventsRequest(events=[task_event(), late, early]))
    assert fields_of(exc) == ["events[1].time", "events[2].task_event.start_time"]


def test_a_nul_is_refused_wherever_text_is_stored() -> None:
    assert limits.too_long("f", "a\x00b", 10) == [
        FieldViolation("f", "must not contain NUL characters")
    ]
    with pytest.raises(InvalidArgument) as exc:  # the fuzzer's UNKNOWN (jsonb containment)
        validate_list(workflow_service_pb2.ListWorkflowsRequest(labels={"a": "x\x00"}))
    assert fields_of(exc) == ["labels[a]"]

"""Validation of a CreateWorkflowRequest at the edge: every violation, named by field path.

Pure: the known task types (with their params schemas) come in as an argument.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from helicase.common import limits as bounds
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.common.tenants import reserved_label
from helicase.v1 import workflow_pb2, workflow_service_pb2

TASK_ID = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{bounds.TASK_ID - 1}}}$")
LABEL_KEY = re.compile(rf"^[a-z0-9]([a-z0-9._/-]{{0,{bounds.LABEL_KEY - 1}}})$")
MAX_ATTEMPTS = 100


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits on one workflow."""

    max_tasks: int = 100_000
    max_dependencies: int = bounds.DEPENDS_ON
    # Serialized size of the definition: it travels whole in the launch command (Kafka) and in
    # SubmitWorkflow (gRPC); both allow more (helicase.common.topics.MAX_MESSAGE_BYTES, 16 MiB).
    max_bytes: int = 8 * 2**20


@dataclass
class SchemaCache:
    """Compiled JSON-schema validators per task type (schemas rarely change)."""

    _compiled: dict[str, tuple[str, Draft202012Validator | None]] = field(default_factory=dict)

    def validator(self, type_name: str, schema: Mapping[str, Any]) -> Draft202012Validator | None:
        key = json.dumps(schema, sort_keys=True)
        cached = self._compiled.get(type_name)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            Draft202012Validator.check_schema(schema)
            compiled: Draft202012Validator | None = Draft202012Validator(schema)
        except SchemaError:
            compiled = None  # a broken schema of a participant's must not block every workflow
        self._compiled[type_name] = (key, compiled)
        return compiled


def _path(error_path: Any) -> str:
    out = ""
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _check_retry(task: workflow_pb2.Task, where: str, out: list[FieldViolation]) -> None:
    if not task.HasField("retry"):
        return
    retry = task.retry
    if not 0 <= retry.max_attempts <= MAX_ATTEMPTS:
        out.append(FieldViolation(f"{where}.retry.max_attempts", f"must be 0..{MAX_ATTEMPTS}"))
    for name in ("initial_backoff", "max_backoff"):
        out += bounds.too_long_a_duration(f"{where}.retry.{name}", getattr(retry, name))
    if retry.multiplier != 0 and retry.multiplier < 1:
        out.append(FieldViolation(f"{where}.retry.multiplier", "must be 0 (default) or >= 1"))


def _check_task(
    task: workflow_pb2.Task,
    where: str,
    task_types: Mapping[str, Mapping[str, Any]],
    validators: Callable[[str, Mapping[str, Any]], Draft202012Validator | None],
    limits: Limits,
    out: list[FieldViolation],
    judged: dict[tuple[str, bytes], list[tuple[str, str]]],
) -> None:
    if not TASK_ID.match(task.id):
        out.append(
            FieldViolation(
                f"{where}.id",
                "must be 1-63 characters of lower-case letters, digits, '-' and '_', "
                "starting with a letter or digit",
            )
        )
    if task.instance_group and not TASK_ID.match(task.instance_group):
        out.append(FieldViolation(f"{where}.instance_group", "is not a valid group name"))
    out += bounds.too_many(f"{where}.depends_on", task.depends_on, limits.max_dependencies)
    _check_retry(task, where, out)
    out += bounds.too_long_a_duration(f"{where}.timeout", task.timeout)
    schema = task_types.get(task.type)
    if not task.type:
        out.append(FieldViolation(f"{where}.type", "is required"))
        return
    if len(task.type) > bounds.TASK_TYPE:
        out += bounds.too_long(f"{where}.type", task.type, bounds.TASK_TYPE)
        return
    if schema is None:
        known = ", ".join(sorted(task_types)) or "none registered"
        out.append(FieldViolation(f"{where}.type", f"unknown task type {task.type!r} ({known})"))
        return
    # Measured in the proto encoding: the bytes that travel to the participant.
    size = task.params.ByteSize()
    if size > bounds.PARAMS_BYTES:
        out.append(
            FieldViolation(
                f"{where}.params", f"is {size} bytes; the limit is {bounds.PARAMS_BYTES}"
            )
        )
        return
    # Tasks of one type with the same params are judged once per request: a big workflow
    # repeats them (judging each took most of a 100,000-task check).
    key = (task.type, task.params.SerializeToString(deterministic=True))
    found = judged.get(key)
    if found is None:
        found = judged[key] = _judge_params(task, validators(task.type, schema))
    out += [FieldViolation(f"{where}.params{suffix}", message) for suffix, message in found]


def _judge_params(
    task: workflow_pb2.Task, validator: Draft202012Validator | None
) -> list[tuple[str, str]]:
    """What is wrong with a task's params, as (path below `params`, message) pairs."""
    problem = bounds.struct_problem(task.params)
    if problem is not None:  # NaN, Infinity or too deep: no JSON schema can judge it
        return [("", f"is not finite JSON: {problem}")]
    if validator is None:
        return []
    params = json_format.MessageToDict(task.params) if task.HasField("params") else {}
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.path))
    return [(_path(error.path), error.message) for error in errors]


def _find_cycle(ids: list[str], deps: dict[str, list[str]]) -> list[str] | None:
    """Returns one cycle as a path of task ids (first == last), or None. Iterative DFS."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(ids, white)
    known = {node: [d for d in deps.get(node, []) if d in color] for node in ids}
    for root in ids:
        if color[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                color[node] = grey
                path.append(node)
            children = known[node]
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if color[child] == grey:
                    return [*path[path.index(child) :], child]
                if color[child] == white:
                    stack.append((child, 0))
            else:
                color[node] = black
                path.pop()
    return None


def check_labels(
    where: str, labels: Mapping[str, str], *, reserved_labels: bool = False
) -> list[FieldViolation]:
    """Violations of a workflow's `labels`: their number, each key (a pattern, at most
    LABEL_KEY characters; Helicase's own refused unless `reserved_labels`) and each value."""
    out = bounds.too_many(where, labels, bounds.LABELS)
    for key, value in sorted(labels.items())[: bounds.LABELS + 1]:
        shown = key[: bounds.LABEL_KEY]  # a field path must stay short too
        if not LABEL_KEY.match(key):
            out.append(
                FieldViolation(
                    f"{where}[{shown}]",
                    f"is not a valid label key (at most {bounds.LABEL_KEY} characters of a-z, "
                    "0-9, '.', '_', '/' and '-')",
                )
            )
        elif reserved_label(key) and not reserved_labels:
            out.append(FieldViolation(f"{where}[{key}]", "is reserved for Helicase"))
        out += [
            FieldViolation(v.field, f"value {v.description}")
            for v in bounds.too_long(f"{where}[{shown}]", value, bounds.LABEL_VALUE)
        ]
    return out


def validate_create(
    request: workflow_service_pb2.CreateWorkflowRequest,
    task_types: Mapping[str, Mapping[str, Any]],
    *,
    limits: Limits | None = None,
    schemas: SchemaCache | None = None,
    reserved_labels: bool = False,
) -> None:
    """Raises InvalidArgument naming every offending field of `request`. Labels Helicase sets
    itself (helicase.common.tenants.reserved_label) are refused unless `reserved_labels` (a
    workflow Helicase itself creates: an experiment's, a schedule's firing)."""
    limits = limits or Limits()
    schemas = schemas or SchemaCache()
    out: list[FieldViolation] = []
    workflow = request.workflow
    out += bounds.too_long("request_id", request.request_id, bounds.REQUEST_ID)
    if not request.HasField("workflow"):
        raise InvalidArgument([FieldViolation("workflow", "is required"), *out])
    out += bounds.too_long("workflow.display_name", workflow.display_name, bounds.DISPLAY_NAME)
    out += check_labels("workflow.labels", workflow.labels, reserved_labels=reserved_labels)
    size = workflow.ByteSize()
    if size > limits.max_bytes:
        raise InvalidArgument(
            [
                FieldViolation(
                    "workflow", f"is {size} bytes serialized; the limit is {limits.max_bytes}"
                )
            ]
        )
    tasks = workflow.tasks
    if not tasks:
        out.append(FieldViolation("workflow.tasks", "a workflow needs at least one task"))
    if len(tasks) > limits.max_tasks:
        raise InvalidArgument(
            [
                FieldViolation(
                    "workflow.tasks", f"{len(tasks)} tasks; the limit is {limits.max_tasks}"
                )
            ]
        )
    compiled: dict[str, Draft202012Validator | None] = {}

    def validators(type_name: str, schema: Mapping[str, Any]) -> Draft202012Validator | None:
        # Once per type and request: comparing a schema with the cached one has a cost too.
        if type_name not in compiled:
            compiled[type_name] = schemas.validator(type_name, schema)
        return compiled[type_name]

    seen: dict[str, int] = {}
    judged: dict[tuple[str, bytes], list[tuple[str, str]]] = {}
    for index, task in enumerate(tasks):
        where = f"workflow.tasks[{index}]"
        _check_task(task, where, task_types, validators, limits, out, judged)
        if task.id in seen:
            out.append(
                FieldViolation(f"{where}.id", f"duplicate id {task.id!r} (tasks[{seen[task.id]}])")
            )
        else:
            seen[task.id] = index
    deps: dict[str, list[str]] = {}
    for index, task in enumerate(tasks):
        for dep_index, dep in enumerate(task.depends_on):
            where = f"workflow.tasks[{index}].depends_on[{dep_index}]"
            if dep == task.id:
                out.append(FieldViolation(where, f"task {task.id!r} depends on itself"))
            elif dep not in seen:
                out.append(FieldViolation(where, f"unknown dependency {dep!r}"))
        deps.setdefault(task.id, []).extend(d for d in task.depends_on if d != task.id)
    cycle = _find_cycle(list(seen), deps)
    if cycle is not None:
        first = seen[cycle[0]]
        dep_index = list(tasks[first].depends_on).index(cycle[1])
        out.append(
            FieldViolation(
                f"workflow.tasks[{first}].depends_on[{dep_index}]",
                "cycle " + " -> ".join(cycle),
            )
        )
    if out:
        raise InvalidArgument(out)


def validate_cancel(request: workflow_service_pb2.CancelWorkflowRequest) -> None:
    """Raises InvalidArgument when the reason is over its limit: it is copied into the event of
    every task the cancel stops."""
    out = bounds.too_long("reason", request.reason, bounds.REASON)
    if out:
        raise InvalidArgument(out)


def validate_list(request: workflow_service_pb2.ListWorkflowsRequest) -> None:
    """Raises InvalidArgument when the filter is over the limits a workflow's labels have (no
    stored workflow could match more), or names more states than there are."""
    out = check_labels("labels", request.labels, reserved_labels=True)
    out += bounds.too_many("states", request.states, len(workflow_pb2.WorkflowState.values()))
    if out:
        raise InvalidArgument(out)

"""A workflow definition as the controller keeps it: compact, validated, immutable.

A million-task workflow must fit in well under a gigabyte, so the parsed protobuf (about 500
bytes a task) is not kept. What stays is the serialized definition, each task's byte range in it
(a task is parsed again only when it is placed or fails), the task ids with their index, each
task's (instance group, type) as a small integer, and the dependency graph as counts plus a
compressed adjacency array of dependents (CSR): a few dozen bytes per task.
"""

from __future__ import annotations

import uuid
from array import array
from collections import deque

from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.v1 import workflow_pb2

DEFAULT_GROUP = "default"
_TASKS_TAG = b"\x2a"  # Workflow.tasks: field 5, length-delimited


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class Definition:
    """A validated workflow definition. Build it with `build`."""

    __slots__ = (
        "blob",
        "dep_counts",
        "dependents",
        "dependents_start",
        "failure_policy",
        "ids",
        "index",
        "kind_names",
        "kinds",
        "lengths",
        "packed",
        "starts",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        workflow_id: str,
        failure_policy: int,
        blob: bytes,
        starts: array[int],
        lengths: array[int],
        ids: list[str],
        kinds: array[int],
        kind_names: list[tuple[str, str]],
        dep_counts: array[int],
        dependents_start: array[int],
        dependents: array[int],
    ) -> None:
        self.workflow_id = workflow_id
        self.failure_policy = failure_policy
        self.blob = blob  # a serialized helicase.v1.Workflow: the definition as submitted
        # The blob zlib-compressed for the stored state: made once by the codec (or kept from
        # the state it was read from), so a commit does not compress the definition again.
        self.packed: bytes | None = None
        self.starts = starts
        self.lengths = lengths
        self.ids = ids
        self.index = {task_id: i for i, task_id in enumerate(ids)}
        self.kinds = kinds  # index into kind_names
        self.kind_names = kind_names  # (instance group, task type)
        self.dep_counts = dep_counts
        self.dependents_start = dependents_start  # CSR row starts, len = tasks + 1
        self.dependents = dependents

    def __len__(self) -> int:
        return len(self.ids)

    def task(self, index: int) -> workflow_pb2.Task:
        """The task's definition, parsed on demand."""
        start = self.starts[index]
        return workflow_pb2.Task.FromString(self.blob[start : start + self.lengths[index]])

    def kind(self, index: int) -> tuple[str, str]:
        """(instance group, task type)."""
        return self.kind_names[self.kinds[index]]

    def dependents_of(self, index: int) -> array[int]:
        return self.dependents[self.dependents_start[index] : self.dependents_start[index + 1]]

    def workflow(self) -> workflow_pb2.Workflow:
        return workflow_pb2.Workflow.FromString(self.blob)


def _violations(workflow: workflow_pb2.Workflow) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if not workflow.id:
        found.append(FieldViolation("workflow.id", "must be set"))
    seen: set[str] = set()
    for i, task in enumerate(workflow.tasks):
        where = f"workflow.tasks[{i}]"
        if not task.id:
            found.append(FieldViolation(f"{where}.id", "must be set"))
        elif task.id in seen:
            found.append(FieldViolation(f"{where}.id", f"duplicate task id {task.id!r}"))
        seen.add(task.id)
        if not task.type:
            found.append(FieldViolation(f"{where}.type", "must be set"))
    for i, task in enumerate(workflow.tasks):
        for j, dep in enumerate(task.depends_on):
            where = f"workflow.tasks[{i}].depends_on[{j}]"
            if dep == task.id:
                found.append(FieldViolation(where, "a task cannot depend on itself"))
            elif dep not in seen:
                found.append(FieldViolation(where, f"unknown task {dep!r}"))
    return found


def check_submitted(workflow: workflow_pb2.Workflow) -> None:
    """What SubmitWorkflow adds to build's checks: the id is a workflow id, a UUID in its
    canonical form, as the api makes them. It names ZooKeeper nodes
    (/helicase/controller/workflows/<id>): an id ZooKeeper refuses ("../x", a NUL, "a/b")
    would fail every later state write of the leader, since a failed batch is retried whole."""
    try:
        canonical = str(uuid.UUID(workflow.id)) == workflow.id
    except ValueError:
        canonical = False
    if not canonical:
        shown = workflow.id[:100]
        raise InvalidArgument([FieldViolation("workflow.id", f"{shown!r} is not a workflow id")])


def build(workflow: workflow_pb2.Workflow) -> Definition:
    """Validates and compacts a definition; raises InvalidArgument (unset or duplicate ids,
    unknown dependencies, cycles). O(tasks + dependencies)."""
    violations = _violations(workflow)
    if violations:
        raise InvalidArgument(violations)
    header = workflow_pb2.Workflow(
        id=workflow.id,
        display_name=workflow.display_name,
        labels=workflow.labels,
        failure_policy=workflow.failure_policy,
    )
    if workflow.HasField("create_time"):
        header.create_time.CopyFrom(workflow.create_time)
    parts = [header.SerializeToString()]
    offset = len(parts[0])
    starts, lengths = array("Q"), array("I")
    ids: list[str] = []
    kinds = array("H")
    kind_index: dict[tuple[str, str], int] = {}
    for task in workflow.tasks:
        data = task.SerializeToString()
        frame = _TASKS_TAG + _varint(len(data))
        parts += (frame, data)
        offset += len(frame)
        starts.append(offset)
        lengths.append(len(data))
        offset += len(data)
        ids.append(task.id)
        kind = (task.instance_group or DEFAULT_GROUP, task.type)
        kinds.append(kind_index.setdefault(kind, len(kind_index)))
    index = {task_id: i for i, task_id in enumerate(ids)}
    dep_counts = array("I", [0]) * len(ids)
    out_degree = array("I", [0]) * len(ids)
    for i, task in enumerate(workflow.tasks):
        deps = {index[d] for d in task.depends_on}
        dep_counts[i] = len(deps)
        for dep in deps:
            out_degree[dep] += 1
    dependents_start = array("I", [0]) * (len(ids) + 1)
    for i, degree in enumerate(out_degree):
        dependents_start[i + 1] = dependents_start[i] + degree
    dependents = array("I", [0]) * dependents_start[-1]
    fill = array("I", dependents_start[:-1])
    for i, task in enumerate(workflow.tasks):
        for dep in {index[d] for d in task.depends_on}:
            dependents[fill[dep]] = i
            fill[dep] += 1
    definition = Definition(
        workflow_id=workflow.id,
        failure_policy=workflow.failure_policy,
        blob=b"".join(parts),
        starts=starts,
        lengths=lengths,
        ids=ids,
        kinds=kinds,
        kind_names=[kind for kind, _ in sorted(kind_index.items(), key=lambda kv: kv[1])],
        dep_counts=dep_counts,
        dependents_start=dependents_start,
        dependents=dependents,
    )
    _check_acyclic(definition)
    return definition


def _check_acyclic(definition: Definition) -> None:
    """Kahn's algorithm: every task must be reachable from the roots."""
    waiting = array("I", definition.dep_counts)
    queue = deque(i for i, count in enumerate(waiting) if count == 0)
    visited = 0
    while queue:
        visited += 1
        for child in definition.dependents_of(queue.popleft()):
            waiting[child] -= 1
            if waiting[child] == 0:
                queue.append(child)
    if visited < len(definition):
        cyclic = [definition.ids[i] for i, count in enumerate(waiting) if count][:10]
        raise InvalidArgument(
            [FieldViolation("workflow.tasks", f"dependency cycle among tasks {cyclic}")]
        )

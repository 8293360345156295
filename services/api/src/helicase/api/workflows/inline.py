"""How much of a workflow one answer carries (pure: no I/O).

A FULL read (GetWorkflow, ListWorkflows, WatchWorkflow) inlines a workflow's first tasks, in
definition order: at most `Budget.inline_tasks` of them and at most half the answer budget in
bytes (`Budget.workflow_bytes`), so that a workflow of 100,000 tasks, or of tasks with large
outputs, still fits. Workflow.task_count says how many there are and tasks_truncated /
next_tasks_page_token where ListTasks continues. A list (ListWorkflows, ListTasks) stops its page
before the answer would pass `Budget.answer_bytes`, always keeping one item, and returns the
token of the last item kept: however large the stored data, no answer nears the message limit
(helicase.wire.MAX_MESSAGE_BYTES).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from helicase.api.paging import ANSWER_BYTES, fitting
from helicase.v1 import workflow_pb2

__all__ = ["Budget", "cap_tasks", "chunks", "fitting"]


@dataclass(frozen=True, kw_only=True)
class Budget:
    """The caps of one answer (HELICASE_INLINE_TASKS, HELICASE_ANSWER_BYTES)."""

    inline_tasks: int = 1_000
    answer_bytes: int = ANSWER_BYTES

    @property
    def workflow_bytes(self) -> int:
        """The bytes of tasks one workflow may inline."""
        return self.answer_bytes // 2


def cap_tasks(workflow: workflow_pb2.Workflow, budget: Budget) -> int:
    """Drops the tasks of `workflow` past the byte budget (the caller read at most
    inline_tasks); returns how many remain. Keeps none when even one would not fit."""
    sizes = [t.ByteSize() for t in workflow.tasks]
    kept = fitting(sizes, budget.workflow_bytes)
    if sizes and sizes[0] > budget.workflow_bytes:
        kept = 0
    del workflow.tasks[kept:]
    return kept


def chunks(
    items: Sequence[workflow_pb2.Task], budget: Budget
) -> Iterator[Sequence[workflow_pb2.Task]]:
    """`items` in runs of at most inline_tasks and workflow_bytes (one item at least): the
    changed tasks of a watch, one message each."""
    start = 0
    while start < len(items):
        window = items[start : start + budget.inline_tasks]
        count = fitting((t.ByteSize() for t in window), budget.workflow_bytes)
        yield window[:count]
        start += count

"""What one answer of the api inlines: sizes fit a budget, a workflow's tasks are capped, a
watch's changed tasks come in bounded runs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.api.workflows.inline import Budget, cap_tasks, chunks, fitting
from helicase.v1 import workflow_pb2


def _tasks(n: int, message: str = "") -> list[workflow_pb2.Task]:
    return [workflow_pb2.Task(id=f"t{i}", type="noop", message=message) for i in range(n)]


@given(st.lists(st.integers(min_value=0, max_value=100)), st.integers(min_value=0, max_value=500))
def test_fitting_keeps_a_prefix_within_the_budget_and_at_least_one(
    sizes: list[int], budget: int
) -> None:
    kept = fitting(sizes, budget)
    assert kept <= len(sizes)
    if sizes:
        assert kept >= 1
        assert kept == 1 or sum(sizes[:kept]) <= budget
        assert kept == len(sizes) or sum(sizes[: kept + 1]) > budget


def test_cap_tasks_drops_the_tasks_past_the_byte_budget() -> None:
    workflow = workflow_pb2.Workflow(tasks=_tasks(50, "x" * 1_000))
    kept = cap_tasks(workflow, Budget(inline_tasks=1_000, answer_bytes=20_000))
    assert kept == len(workflow.tasks) == 9
    assert sum(t.ByteSize() for t in workflow.tasks) <= 10_000


def test_cap_tasks_keeps_none_when_one_task_is_over_the_budget() -> None:
    workflow = workflow_pb2.Workflow(tasks=_tasks(3, "x" * 20_000))
    assert cap_tasks(workflow, Budget(answer_bytes=20_000)) == 0
    assert not workflow.tasks


def test_chunks_bound_count_and_bytes_and_keep_every_task_in_order() -> None:
    tasks = _tasks(2_500) + _tasks(30, "y" * 1_000)
    runs = list(chunks(tasks, Budget(inline_tasks=1_000, answer_bytes=20_000)))
    assert [t.id for run in runs for t in run] == [t.id for t in tasks]
    assert all(0 < len(run) <= 1_000 for run in runs)
    assert all(len(run) == 1 or sum(t.ByteSize() for t in run) <= 10_000 for run in runs)
    assert list(chunks([], Budget())) == []

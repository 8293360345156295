"""Projection folding converges: any order of a set of events, with duplicates, folds to the same
task, attempt and workflow rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from helicase.api.events.projection import (
    AttemptRow,
    TaskFact,
    TaskRow,
    WorkflowRow,
    fold_attempt,
    fold_task,
    fold_workflow,
)
from helicase.common.events import task_position
from helicase.common.states import TS, WS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TASK_STATES = [s for s in TS.values() if s != TS.TASK_STATE_UNSPECIFIED]
WORKFLOW_STATES = [s for s in WS.values() if s != WS.WORKFLOW_STATE_UNSPECIFIED]


def fact(
    attempt: int,
    placement: int,
    state: int,
    second: int = 0,
    who: str = "",
    began: int | None = None,
) -> TaskFact:
    return TaskFact(
        attempt=attempt, placement=placement, state=state, participant=who,
        message=f"{attempt}/{placement}/{state}",
        outputs={"n": attempt} if state == TS.TASK_STATE_COMPLETED else None,
        time=T0 + timedelta(seconds=second),
        start_time=None if began is None else T0 + timedelta(seconds=began),
    )  # fmt: skip


# One fact per position (attempt, placement, state): the event id is a hash of the position, so
# two events with one position are the same event.
facts = st.dictionaries(
    keys=st.tuples(st.integers(0, 3), st.integers(1, 2), st.sampled_from(TASK_STATES)),
    values=st.tuples(
        st.integers(0, 1000), st.sampled_from(["", "p1", "p2"]), st.none() | st.integers(0, 1000)
    ),
    min_size=1,
    max_size=12,
).map(lambda d: [fact(a, p, s, sec, who, b) for (a, p, s), (sec, who, b) in d.items()])


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn, items: list[TaskFact]) -> list[TaskFact]:
    extra = draw(st.lists(st.sampled_from(items), max_size=len(items)))
    return draw(st.permutations([*items, *extra]))


def fold_all(batch: list[TaskFact]) -> tuple[TaskRow, dict[int, AttemptRow]]:
    task = reduce(fold_task, batch, TaskRow())
    attempts: dict[int, AttemptRow] = {}
    for f in batch:
        if f.attempt > 0:
            attempts[f.attempt] = fold_attempt(attempts.get(f.attempt, AttemptRow()), f)
    return task, attempts


@given(data=st.data(), batch=facts)
def test_task_projection_ignores_order_and_duplicates(
    data: st.DataObject, batch: list[TaskFact]
) -> None:
    reordered = data.draw(shuffled_with_duplicates(batch))
    assert fold_all(reordered) == fold_all(batch)


@given(batch=facts)
def test_task_projection_keeps_the_highest_position(batch: list[TaskFact]) -> None:
    task, _ = fold_all(batch)
    best = max(batch, key=lambda f: task_position(f.attempt, f.placement, f.state))
    assert (task.attempt, task.placement, task.state) == (best.attempt, best.placement, best.state)
    assert task.message == best.message


def test_terminal_state_is_not_overwritten_by_a_late_running_event() -> None:
    done = fold_task(TaskRow(), fact(1, 1, TS.TASK_STATE_COMPLETED, 5, "p1"))
    late = fold_task(done, fact(1, 1, TS.TASK_STATE_RUNNING, 1, "p1"))
    assert late.state == TS.TASK_STATE_COMPLETED
    assert late.outputs == {"n": 1}


def test_later_attempt_supersedes_a_failed_one() -> None:
    row = fold_task(TaskRow(), fact(2, 1, TS.TASK_STATE_RUNNING, 9, "p2"))
    row = fold_task(row, fact(1, 1, TS.TASK_STATE_FAILED, 5, "p1"))
    assert (row.attempt, row.state, row.participant) == (2, TS.TASK_STATE_RUNNING, "p2")


def test_participant_survives_a_later_event_without_one() -> None:
    row = fold_task(TaskRow(), fact(1, 1, TS.TASK_STATE_ASSIGNED, 1, "p1"))
    row = fold_task(row, fact(1, 1, TS.TASK_STATE_FAILED, 2, ""))
    assert (row.state, row.participant) == (TS.TASK_STATE_FAILED, "p1")


def test_attempt_times_come_from_running_and_terminal_events() -> None:
    row = fold_attempt(AttemptRow(), fact(1, 1, TS.TASK_STATE_COMPLETED, 7))
    row = fold_attempt(row, fact(1, 1, TS.TASK_STATE_RUNNING, 3))
    row = fold_attempt(row, fact(1, 1, TS.TASK_STATE_ASSIGNED, 1))
    assert row.start_time == T0 + timedelta(seconds=3)
    assert row.end_time == T0 + timedelta(seconds=7)
    assert row.state == TS.TASK_STATE_COMPLETED


def test_a_terminal_event_carrying_its_start_gives_the_attempt_its_start() -> None:
    # A short task is never reported RUNNING: its terminal event carries the start.
    row = fold_attempt(AttemptRow(), fact(1, 1, TS.TASK_STATE_COMPLETED, 7, began=6))
    assert (row.start_time, row.end_time) == (T0 + timedelta(seconds=6), T0 + timedelta(seconds=7))
    # With a RUNNING event as well, the earlier of the two is the start, in either order.
    early = fold_attempt(row, fact(1, 1, TS.TASK_STATE_RUNNING, 5))
    assert early.start_time == T0 + timedelta(seconds=5)


workflow_events = st.dictionaries(
    keys=st.sampled_from(WORKFLOW_STATES), values=st.integers(0, 1000), min_size=1
).map(lambda d: [(state, f"m{state}", T0 + timedelta(seconds=s)) for state, s in d.items()])


def fold_workflow_events(batch: list[tuple[int, str, datetime]]) -> WorkflowRow:
    return reduce(lambda row, e: fold_workflow(row, *e), batch, WorkflowRow())


@given(data=st.data(), batch=workflow_events)
def test_workflow_projection_ignores_order_and_duplicates(
    data: st.DataObject, batch: list[tuple[int, str, datetime]]
) -> None:
    extra = data.draw(st.lists(st.sampled_from(batch), max_size=len(batch)))
    reordered = data.draw(st.permutations([*batch, *extra]))
    assert fold_workflow_events(reordered) == fold_workflow_events(batch)


def test_workflow_times_and_terminal_stickiness() -> None:
    running = (WS.WORKFLOW_STATE_RUNNING, "", T0 + timedelta(seconds=2))
    done = (WS.WORKFLOW_STATE_COMPLETED, "ok", T0 + timedelta(seconds=9))
    canceling = (WS.WORKFLOW_STATE_CANCELING, "late", T0 + timedelta(seconds=10))
    row = fold_workflow_events([done, canceling, running])
    assert row.state == WS.WORKFLOW_STATE_COMPLETED
    assert row.start_time == running[2]
    assert row.end_time == done[2]

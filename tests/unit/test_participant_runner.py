"""The participant's pure decisions: outcome of a run, params checks, outcome → task state."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from helicase.common import events, limits
from helicase.common.errors import NonRetryableError
from helicase.internal.v1 import participant_pb2
from helicase.participant import builtins  # noqa: F401  (registers the built-in types)
from helicase.participant.runner import (
    RunResult,
    classify,
    params_error,
    run_task,
)
from helicase.participant.sdk import TASK_TYPES, Reschedule, RunFn, TaskContext, TaskType
from helicase.v1 import workflow_pb2

Outcome = participant_pb2.TaskOutcome
ANY_SCHEMA: dict[str, Any] = {"type": "object"}


def context() -> TaskContext:
    ref = participant_pb2.TaskRef(workflow_id="w", task_id="t", attempt=1, placement=0)
    return TaskContext(
        ref=ref,
        participant="p",
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
        grace=timedelta(seconds=0.5),
    )


def typed(run: RunFn, schema: dict[str, Any] | None = None) -> TaskType:
    return TaskType(name="t", description="", schema=schema or ANY_SCHEMA, run=run)


def test_outputs_become_completed_with_outputs() -> None:
    result = classify({"n": 1})
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED
    assert result.outputs == {"n": 1}


def test_no_outputs_is_completed_with_empty_outputs() -> None:
    assert classify(None).outputs == {}


def test_reschedule_value_becomes_reschedule_outcome() -> None:
    result = classify(Reschedule(timedelta(seconds=30)))
    assert result.outcome == Outcome.TASK_OUTCOME_RESCHEDULE
    assert result.reschedule_after == timedelta(seconds=30)


def test_outputs_over_64_kib_fail_the_attempt() -> None:
    result = classify({"blob": "x" * limits.OUTPUTS_BYTES})
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert result.message.startswith("outputs are ")
    assert f"the limit is {limits.OUTPUTS_BYTES}" in result.message


@pytest.mark.parametrize(
    ("outputs", "said"),
    [
        ({"x": float("nan")}, "outputs are not finite JSON: NaN at $.x"),
        ({"a": [1, {"b": float("inf")}]}, "outputs are not finite JSON: Infinity at $.a[1].b"),
        ({"x": -float("inf")}, "outputs are not finite JSON: -Infinity at $.x"),
        ({"x": 10**400}, "outputs are not finite JSON: a number beyond the range"),
    ],
)
def test_outputs_that_are_not_finite_json_fail_the_attempt_saying_where(
    outputs: dict[str, Any], said: str
) -> None:
    result = classify(outputs)
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert result.message.startswith(said)
    assert result.outputs is None


def test_outputs_nested_too_deep_fail_the_attempt() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(limits.JSON_DEPTH + 1):
        inner["d"] = {}
        inner = inner["d"]
    result = classify(deep)
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert "nested deeper than" in result.message


def test_a_long_message_is_truncated_not_refused() -> None:
    result = RunResult(Outcome.TASK_OUTCOME_FAILED, "boom " * 10_000)
    assert len(result.message) == limits.MESSAGE
    assert result.message.endswith("(truncated)")


async def test_a_task_raising_a_huge_error_fails_with_a_bounded_message() -> None:
    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("x" * 1_000_000)

    result = await run_task(typed(run), context(), {}, None)
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert len(result.message) <= limits.MESSAGE


def test_outputs_that_are_not_json_fail_the_attempt() -> None:
    assert classify({"x": object()}).outcome == Outcome.TASK_OUTCOME_FAILED
    assert classify([1, 2]).outcome == Outcome.TASK_OUTCOME_FAILED


def test_every_outcome_but_reschedule_has_a_terminal_event() -> None:
    assert Outcome.TASK_OUTCOME_RESCHEDULE not in events.OUTCOME_STATE
    assert events.OUTCOME_STATE[Outcome.TASK_OUTCOME_TIMED_OUT] == workflow_pb2.TASK_STATE_TIMED_OUT
    fatal = events.OUTCOME_STATE[Outcome.TASK_OUTCOME_FATAL_FAILED]
    assert fatal == workflow_pb2.TASK_STATE_FATAL_FAILED
    assert len(set(events.OUTCOME_STATE.values())) == len(events.OUTCOME_STATE)


@pytest.mark.parametrize(
    ("type_name", "params", "ok"),
    [
        ("noop", {}, True),
        ("noop", {"x": 1}, False),
        ("sleep", {"seconds": 0.5}, True),
        ("sleep", {"seconds": 0}, True),
        ("sleep", {"seconds": -1}, False),
        ("sleep", {"seconds": "1"}, False),
        ("sleep", {}, False),
        ("shell", {"command": "true"}, True),
        ("shell", {"command": "exit 3", "fatal_exit_codes": [3], "env": {"A": "b"}}, True),
        ("shell", {"command": "true", "fatal_exit_codes": ["3"]}, False),
        ("shell", {"command": "true", "env": {"A": 1}}, False),
        ("shell", {}, False),
        ("shell", {"command": 5}, False),
    ],
)
def test_builtin_params_are_checked_against_their_schema(
    type_name: str, params: dict[str, Any], ok: bool
) -> None:
    problem = params_error(TASK_TYPES[type_name].schema, params)
    assert (problem is None) == ok, problem


async def test_invalid_params_end_fatal_without_running() -> None:
    ran = False

    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        return {}

    schema = {"type": "object", "required": ["x"]}
    result = await run_task(typed(run, schema), context(), {}, None)
    assert result.outcome == Outcome.TASK_OUTCOME_FATAL_FAILED
    assert not ran


async def test_non_retryable_error_is_fatal_failed() -> None:
    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NonRetryableError("bad ssh key")

    result = await run_task(typed(run), context(), {}, None)
    assert (result.outcome, result.message) == (Outcome.TASK_OUTCOME_FATAL_FAILED, "bad ssh key")


async def test_other_exceptions_are_failed_with_their_text() -> None:
    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError("network blip")

    result = await run_task(typed(run), context(), {}, None)
    assert (result.outcome, result.message) == (Outcome.TASK_OUTCOME_FAILED, "network blip")


async def test_the_tasks_own_timeout_error_is_a_plain_failure() -> None:
    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        raise TimeoutError("ssh connect timed out")

    result = await run_task(typed(run), context(), {}, timedelta(seconds=10))
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED


async def test_passing_the_timeout_is_timed_out_and_signals_the_task() -> None:
    ctx = context()

    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    result = await run_task(typed(run), ctx, {}, timedelta(seconds=0.05))
    assert result.outcome == Outcome.TASK_OUTCOME_TIMED_OUT
    assert ctx.cancel_requested.is_set()


async def test_cancelling_the_run_is_canceled() -> None:
    started = asyncio.Event()

    async def run(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(10)
        return {}

    task = asyncio.create_task(run_task(typed(run), context(), {}, None))
    await started.wait()
    task.cancel()
    result = await task
    assert result.outcome == Outcome.TASK_OUTCOME_CANCELED

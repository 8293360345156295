"""Runs one assignment to an outcome: timeouts, cancellation and error classification."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jsonschema

from helicase.common import limits
from helicase.common.errors import NonRetryableError
from helicase.internal.v1 import participant_pb2
from helicase.participant.sdk import Reschedule, TaskContext, TaskType

Outcome = participant_pb2.TaskOutcome
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    outcome: participant_pb2.TaskOutcome.ValueType
    message: str = ""
    outputs: dict[str, Any] | None = None
    reschedule_after: timedelta | None = None

    def __post_init__(self) -> None:
        # A message (often an exception's text) is cut to its limit, never a reason to refuse.
        object.__setattr__(self, "message", limits.truncate(self.message, limits.MESSAGE))


def classify(result: Any) -> RunResult:
    """Maps what `run` returned to an outcome (pure)."""
    if isinstance(result, Reschedule):
        return RunResult(Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=result.delay)
    outputs = result or {}
    problem = limits.outputs_problem(outputs)
    if problem is not None:  # finite JSON of bounded size, or the task fails saying why
        return RunResult(Outcome.TASK_OUTCOME_FAILED, problem)
    return RunResult(Outcome.TASK_OUTCOME_COMPLETED, outputs=outputs)


def params_error(schema: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """Why `params` break the type's schema, or None (pure). Invalid input is never retried."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "params"
    return f"invalid params at {where}: {first.message}"


async def run_task(
    task_type: TaskType,
    ctx: TaskContext,
    params: dict[str, Any],
    limit: timedelta | None,
) -> RunResult:
    """Runs the task; a CancelledError from the caller becomes CANCELED."""
    problem = params_error(task_type.schema, params)
    if problem is not None:
        return RunResult(Outcome.TASK_OUTCOME_FATAL_FAILED, problem)
    deadline = asyncio.timeout(limit.total_seconds() if limit else None)
    try:
        async with deadline:
            result = await task_type.run(ctx, params)
    except TimeoutError as exc:
        if not deadline.expired():  # the task's own I/O timed out: an ordinary failure
            return RunResult(Outcome.TASK_OUTCOME_FAILED, str(exc) or "timeout")
        ctx.cancel_requested.set()
        seconds = limit.total_seconds() if limit else 0.0
        return RunResult(Outcome.TASK_OUTCOME_TIMED_OUT, f"timed out after {seconds:g}s")
    except asyncio.CancelledError:
        ctx.cancel_requested.set()
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        return RunResult(Outcome.TASK_OUTCOME_CANCELED, "canceled")
    except NonRetryableError as exc:
        return RunResult(Outcome.TASK_OUTCOME_FATAL_FAILED, str(exc) or type(exc).__name__)
    except Exception as exc:
        ctx.log.info("task failed", extra={"error": str(exc)})
        return RunResult(Outcome.TASK_OUTCOME_FAILED, str(exc) or type(exc).__name__)
    return classify(result)

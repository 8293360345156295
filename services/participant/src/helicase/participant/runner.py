"""Runs one assignment to an outcome: timeouts, cancellation and error classification."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from helicase.common.errors import NonRetryableError
from helicase.participant.sdk import Reschedule, TaskContext, TaskType
from helicase.v1 import participant_pb2

Outcome = participant_pb2.TaskOutcome
MAX_OUTPUT_BYTES = 64 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    outcome: int
    message: str = ""
    outputs: dict[str, Any] | None = None
    reschedule_after: timedelta | None = None


def classify(result: Any) -> RunResult:
    """Maps what `run` returned to an outcome (pure)."""
    if isinstance(result, Reschedule):
        return RunResult(Outcome.TASK_OUTCOME_RESCHEDULE, reschedule_after=result.delay)
    outputs = result or {}
    if not isinstance(outputs, dict):
        return RunResult(Outcome.TASK_OUTCOME_FAILED, "outputs must be a JSON object")
    try:
        size = len(json.dumps(outputs))
    except (TypeError, ValueError):
        return RunResult(Outcome.TASK_OUTCOME_FAILED, "outputs are not JSON")
    if size > MAX_OUTPUT_BYTES:
        return RunResult(
            Outcome.TASK_OUTCOME_FAILED, f"outputs too large ({size} > {MAX_OUTPUT_BYTES} bytes)"
        )
    return RunResult(Outcome.TASK_OUTCOME_COMPLETED, outputs=outputs)


async def run_task(
    task_type: TaskType,
    ctx: TaskContext,
    params: dict[str, Any],
    limit: timedelta | None,
) -> RunResult:
    """Runs the task; a CancelledError from the caller becomes CANCELED."""
    try:
        async with asyncio.timeout(limit.total_seconds() if limit else None):
            result = await task_type.run(ctx, params)
    except TimeoutError:
        return RunResult(Outcome.TASK_OUTCOME_TIMED_OUT, f"timed out after {limit}")
    except asyncio.CancelledError:
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


OUTCOME_STATE: dict[int, str] = {
    Outcome.TASK_OUTCOME_COMPLETED: "TASK_STATE_COMPLETED",
    Outcome.TASK_OUTCOME_FAILED: "TASK_STATE_FAILED",
    Outcome.TASK_OUTCOME_FATAL_FAILED: "TASK_STATE_FATAL_FAILED",
    Outcome.TASK_OUTCOME_CANCELED: "TASK_STATE_CANCELED",
    Outcome.TASK_OUTCOME_TIMED_OUT: "TASK_STATE_TIMED_OUT",
}

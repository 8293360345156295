"""The shell task type, run for real: exit codes, fatal codes, output, process-group kill."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from helicase.internal.v1 import participant_pb2
from helicase.participant import builtins  # noqa: F401  (registers the built-in types)
from helicase.participant.runner import RunResult, run_task
from helicase.participant.sdk import TASK_TYPES, TaskContext

Outcome = participant_pb2.TaskOutcome


async def run_shell(params: dict[str, Any], limit_s: float | None = None) -> RunResult:
    ref = participant_pb2.TaskRef(workflow_id="wf-1", task_id="t", attempt=2, placement=0)
    ctx = TaskContext(
        ref=ref,
        participant="p",
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
        grace=timedelta(seconds=0.5),
    )
    limit = timedelta(seconds=limit_s) if limit_s else None
    return await run_task(TASK_TYPES["shell"], ctx, params, limit)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state  # a zombie is dead, only not yet reaped


async def test_exit_zero_completes_with_stdout_and_exit_code() -> None:
    result = await run_shell({"command": "echo hello; echo $HELICASE_ATTEMPT"})
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED
    assert result.outputs == {"exit_code": 0, "stdout": "hello\n2\n"}


async def test_stdout_keeps_only_the_last_4_kib() -> None:
    result = await run_shell({"command": "head -c 10000 /dev/zero | tr '\\0' a; echo END"})
    assert result.outputs is not None
    assert len(result.outputs["stdout"]) == 4096
    assert result.outputs["stdout"].endswith("END\n")


async def test_non_zero_exit_fails_with_code_and_stderr_tail() -> None:
    result = await run_shell({"command": "echo disk full >&2; exit 4"})
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert result.message == "exit code 4: disk full"


async def test_listed_exit_code_is_fatal() -> None:
    result = await run_shell({"command": "exit 3", "fatal_exit_codes": [3, 7]})
    assert (result.outcome, result.message) == (Outcome.TASK_OUTCOME_FATAL_FAILED, "exit code 3")


async def test_env_params_reach_the_command() -> None:
    result = await run_shell({"command": 'test "$GREETING" = hi', "env": {"GREETING": "hi"}})
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED


async def test_timeout_kills_the_whole_process_group(shared_dir: Path) -> None:
    pid_file = shared_dir / "grandchild.pid"
    command = f"sleep 30 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    result = await run_shell({"command": command}, limit_s=0.5)
    assert result.outcome == Outcome.TASK_OUTCOME_TIMED_OUT
    assert time.monotonic() - started < 5
    grandchild = int(pid_file.read_text())
    for _ in range(50):
        if not alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not alive(grandchild), "the grandchild sleep survived the timeout"


async def test_a_command_ignoring_sigterm_is_killed_after_the_grace(shared_dir: Path) -> None:
    pid_file = shared_dir / "stubborn.pid"
    command = f"trap '' TERM; echo $$ > {pid_file}; while :; do sleep 0.05; done"
    started = time.monotonic()
    result = await run_shell({"command": command}, limit_s=0.3)
    assert result.outcome == Outcome.TASK_OUTCOME_TIMED_OUT
    assert time.monotonic() - started < 5
    assert not alive(int(pid_file.read_text()))
    assert os.getpgrp() != int(pid_file.read_text())

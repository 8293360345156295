"""The built-in task types every local suite serves: noop, sleep, shell."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from pydantic import Field

from helicase.common.errors import NonRetryableError
from helicase.participant.sdk import Params, TaskContext, task_type

OUTPUT_TAIL = 4096


class NoopParams(Params):
    """No params."""


@task_type("noop", params=NoopParams, description="Does nothing and completes at once.")
async def noop(ctx: TaskContext, params: NoopParams) -> dict[str, Any]:
    return {}


class SleepParams(Params):
    """How long to wait."""

    seconds: float = Field(ge=0, description="Seconds to wait (a number >= 0).")


@task_type("sleep", params=SleepParams, description="Waits `seconds` seconds.")
async def sleep(ctx: TaskContext, params: SleepParams) -> dict[str, Any]:
    await asyncio.sleep(params.seconds)
    return {"slept": params.seconds}


def _tail(data: bytes) -> str:
    return data[-OUTPUT_TAIL:].decode(errors="replace")


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the whole process group, SIGKILL it after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


class ShellParams(Params):
    """A command for /bin/sh -c, the exit codes that mean "do not retry", extra environment."""

    command: str = Field(min_length=1, description="Run by /bin/sh -c.")
    fatal_exit_codes: list[int] = Field(
        default_factory=list, description="Exit codes that fail the task for good."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")


@task_type(
    "shell",
    params=ShellParams,
    description="Runs `command` with /bin/sh -c. A non-zero exit fails the attempt (retried); "
    "an exit code listed in `fatal_exit_codes` fails the task for good (FATAL_FAILED).",
)
async def shell(ctx: TaskContext, params: ShellParams) -> dict[str, Any]:
    env = {
        **os.environ,
        **params.env,
        "HELICASE_WORKFLOW_ID": ctx.workflow_id,
        "HELICASE_TASK_ID": ctx.task_id,
        "HELICASE_ATTEMPT": str(ctx.attempt),
    }
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        params.command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = await proc.communicate()
    except asyncio.CancelledError:
        await _terminate(proc, ctx.grace.total_seconds())
        raise
    code = proc.returncode
    assert code is not None
    if code == 0:
        return {"exit_code": 0, "stdout": _tail(stdout)}
    detail = _tail(stderr).strip().splitlines()[-1:] if stderr else []
    message = f"exit code {code}" + (f": {detail[0]}" if detail else "")
    fatal = set(params.fatal_exit_codes)
    if code in fatal:
        raise NonRetryableError(message)
    raise RuntimeError(message)

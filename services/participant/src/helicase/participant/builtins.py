"""The built-in task types every local suite serves: noop, sleep, shell."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from helicase.common.errors import NonRetryableError
from helicase.participant.processes import terminate
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


class ShellParams(Params):
    """A command for /bin/sh -c, the exit codes that mean "do not retry", its environment (on
    top of the allow-listed one every task process gets)."""

    command: str = Field(min_length=1, description="Run by /bin/sh -c.")
    fatal_exit_codes: list[int] = Field(
        default_factory=list, description="Exit codes that fail the task for good."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables of the command."
    )


@task_type(
    "shell",
    params=ShellParams,
    description="Runs `command` with /bin/sh -c. A non-zero exit fails the attempt (retried); "
    "an exit code listed in `fatal_exit_codes` fails the task for good (FATAL_FAILED).",
)
async def shell(ctx: TaskContext, params: ShellParams) -> dict[str, Any]:
    async with ctx.process(["/bin/sh", "-c", params.command], env=params.env) as proc:
        try:
            stdout, stderr = await proc.communicate()
        except asyncio.CancelledError:
            await terminate(proc, ctx.grace.total_seconds())
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

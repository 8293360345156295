"""The built-in task types every local suite serves: noop, sleep, shell."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from helicase.common.errors import NonRetryableError
from helicase.participant.sdk import TaskContext, task_type

OUTPUT_TAIL = 4096


@task_type(
    "noop",
    description="Does nothing and completes at once.",
    schema={"type": "object", "additionalProperties": False},
)
async def noop(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    return {}


@task_type(
    "sleep",
    description="Waits `seconds` seconds.",
    schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0}},
        "required": ["seconds"],
        "additionalProperties": False,
    },
)
async def sleep(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(float(params["seconds"]))
    return {"slept": params["seconds"]}


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


@task_type(
    "shell",
    description="Runs `command` with /bin/sh -c. A non-zero exit fails the attempt (retried); "
    "an exit code listed in `fatal_exit_codes` fails the task for good (FATAL_FAILED).",
    schema={
        "type": "object",
        "properties": {
            "command": {"type": "string", "minLength": 1},
            "fatal_exit_codes": {"type": "array", "items": {"type": "integer"}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
)
async def shell(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    env = {
        **os.environ,
        **params.get("env", {}),
        "HELICASE_WORKFLOW_ID": ctx.workflow_id,
        "HELICASE_TASK_ID": ctx.task_id,
        "HELICASE_ATTEMPT": str(ctx.attempt),
    }
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        params["command"],
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
    fatal = {int(c) for c in params.get("fatal_exit_codes", [])}
    if code in fatal:
        raise NonRetryableError(message)
    raise RuntimeError(message)

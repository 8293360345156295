"""Out of memory: a participant whose memory (with its tasks' processes) passes the configured
limit exits non-zero, and the task it was running runs on another participant."""

from __future__ import annotations

import uuid
from typing import Any

from helicase.client import HelicaseClient
from tests.integration.helpers import request, state


async def test_a_participant_past_its_memory_limit_exits_and_its_task_runs_elsewhere(
    make_suite: Any,
) -> None:
    suite = make_suite(extra_env={"HELICASE_PARTICIPANT_MAX_RSS_MB": "250"})
    marker = f"/tmp/helicase-oom-{uuid.uuid4().hex}"
    # The first run holds 400 MB until it is killed; the next one (elsewhere) finds the marker.
    hog = (
        f"if [ -e {marker} ]; then rm -f {marker}; echo light; else touch {marker}; "
        'exec python3 -c \'import time; b = bytearray(400 * 2**20); b[::4096] = b"x" * '
        "len(b[::4096]); time.sleep(60)'; fi"
    )
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        created = await client.create(
            request([{"id": "hog", "type": "shell", "params": {"command": hog}}])
        )
        done = await client.wait(created.id, within=90)
    assert state(done) == "COMPLETED", done
    task = done.tasks[0]
    assert task.attempt == 1  # a re-placement, not a failed attempt
    logs = {name: suite.log(name, lines=400) for name in ("participant-1", "participant-2")}
    exited = [name for name, text in logs.items() if "memory limit passed" in text]
    assert len(exited) == 1, logs
    loser = suite.specs[exited[0]].env["HELICASE_PARTICIPANT_NAME"]
    assert task.participant != loser

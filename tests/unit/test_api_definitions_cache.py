"""The api's cache of parsed definitions stays bounded by workflows, by tasks and by bytes."""

from __future__ import annotations

import uuid
from typing import Any

from helicase.api.workflows import reads
from helicase.v1 import workflow_pb2


class Rows:
    """Stands in for the connection: the stored definition of any workflow id, counted."""

    def __init__(self, tasks: int, pad: int = 0) -> None:
        definition = workflow_pb2.Workflow(display_name="w")
        for i in range(tasks):
            task = definition.tasks.add(id=f"t{i}", type="noop")
            if pad:
                task.params.update({"pad": "x" * pad})
        self.raw = definition.SerializeToString()
        self.reads = 0

    async def scalar(self, _query: Any) -> bytes:
        self.reads += 1
        return self.raw


async def test_small_workflows_are_kept_up_to_the_workflow_bound() -> None:
    cache, rows = reads.Definitions(), Rows(tasks=1)
    ids = [uuid.uuid4() for _ in range(reads._CACHED_WORKFLOWS + 50)]
    for workflow_id in ids:
        await cache.get(rows, workflow_id)  # type: ignore[arg-type]
    assert len(cache._cache) == reads._CACHED_WORKFLOWS
    assert rows.reads == len(ids)
    await cache.get(rows, ids[-1])  # type: ignore[arg-type]  # the newest: still kept
    assert rows.reads == len(ids)
    await cache.get(rows, ids[0])  # type: ignore[arg-type]  # the oldest: dropped, read again
    assert rows.reads == len(ids) + 1


async def test_big_workflows_are_kept_up_to_the_task_bound() -> None:
    cache, rows = reads.Definitions(), Rows(tasks=reads._CACHED_TASKS // 3 + 1)
    for _ in range(5):
        await cache.get(rows, uuid.uuid4())  # type: ignore[arg-type]
    assert len(cache._cache) == 2
    assert cache._tasks <= reads._CACHED_TASKS


async def test_workflows_with_big_params_are_kept_up_to_the_byte_bound() -> None:
    """120 tasks of 64 KiB params: 7.5 MiB a definition, far under both other bounds (the api
    kept every one it read: 15 MiB more for each 7.5 MiB workflow created)."""
    cache, rows = reads.Definitions(), Rows(tasks=120, pad=64 * 1024 - 64)
    for _ in range(40):
        await cache.get(rows, uuid.uuid4())  # type: ignore[arg-type]
    assert cache._bytes <= reads._CACHED_BYTES
    assert len(cache._cache) == reads._CACHED_BYTES // len(rows.raw)

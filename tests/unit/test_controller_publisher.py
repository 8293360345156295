"""The controller's publisher: a workflow event goes out at once, unless task events of its
workflow are still on their way; then right after them."""

from __future__ import annotations

import asyncio
from typing import cast

from helicase.common.kafka import AsyncProducer
from helicase.controller._publisher import Publisher


class FakeProducer:
    """Records sends; each send's future resolves when the test says Kafka acknowledged it."""

    def __init__(self, name: str, log: list[tuple[str, bytes]]) -> None:
        self.name = name
        self.log = log
        self.pending: list[asyncio.Future[None]] = []

    def send_nowait(self, topic: str, key: str, value: bytes) -> asyncio.Future[None]:
        self.log.append((self.name, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future

    def acknowledge_all(self) -> None:
        for future in self.pending:
            if not future.done():
                future.set_result(None)


def publisher() -> tuple[Publisher, FakeProducer, list[tuple[str, bytes]]]:
    log: list[tuple[str, bytes]] = []
    tasks, workflows = FakeProducer("tasks", log), FakeProducer("workflows", log)
    return (
        Publisher(cast(AsyncProducer, tasks), cast(AsyncProducer, workflows)),
        tasks,
        log,
    )


async def test_a_workflow_event_with_nothing_before_it_goes_out_at_once() -> None:
    pub, _, log = publisher()
    pub.workflow_event("w1", b"w1 running")
    assert log == [("workflows", b"w1 running")]


async def test_a_workflow_event_waits_for_its_workflows_task_events_on_their_way() -> None:
    pub, tasks, log = publisher()
    pub.task_event("w1", b"w1 skipped")
    pub.workflow_event("w1", b"w1 failed")
    pub.workflow_event("w2", b"w2 completed")  # another workflow: not held
    assert log == [("tasks", b"w1 skipped"), ("workflows", b"w2 completed")]
    tasks.acknowledge_all()
    await asyncio.sleep(0)  # done callbacks run on the loop
    await asyncio.sleep(0)
    assert log[-1] == ("workflows", b"w1 failed")
    pub.workflow_event("w1", b"w1 again")  # nothing on its way any more
    assert log[-1] == ("workflows", b"w1 again")

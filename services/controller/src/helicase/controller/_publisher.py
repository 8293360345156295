"""Publishing the controller's decisions: task events batch (the producer lingers a little),
workflow events go out at once (a workflow's end is what its submitter waits for), and a
workflow event never overtakes the task events of its workflow published before it: a workflow
seen finished in PostgreSQL has its task events stored too."""

from __future__ import annotations

import asyncio
import logging

from helicase.common import topics
from helicase.common.kafka import AsyncProducer

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, tasks: AsyncProducer, workflows: AsyncProducer | None = None) -> None:
        self._tasks = tasks
        self._workflows = workflows or tasks
        self._unsent: dict[str, asyncio.Future[None]] = {}  # workflow id -> its last task event

    def task_event(self, workflow_id: str, value: bytes) -> None:
        sent = self._tasks.send_nowait(topics.EVENTS, workflow_id, value)
        sent.add_done_callback(_log_failure)
        self._unsent[workflow_id] = sent
        sent.add_done_callback(lambda done: self._sent(workflow_id, done))

    def workflow_event(self, workflow_id: str, value: bytes) -> None:
        before = self._unsent.get(workflow_id)
        if before is None or before.done():
            self._send_workflow_event(workflow_id, value)
        else:  # after the workflow's task events still on their way
            before.add_done_callback(lambda _: self._send_workflow_event(workflow_id, value))

    def _send_workflow_event(self, workflow_id: str, value: bytes) -> None:
        sent = self._workflows.send_nowait(topics.EVENTS, workflow_id, value)
        sent.add_done_callback(_log_failure)

    def _sent(self, workflow_id: str, done: asyncio.Future[None]) -> None:
        if self._unsent.get(workflow_id) is done:
            del self._unsent[workflow_id]


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("event not published", extra={"error": repr(future.exception())})

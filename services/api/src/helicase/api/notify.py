"""In-process wake-ups of WatchWorkflow streams when a workflow's projection changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class ChangeNotifier:
    """Each watcher waits on its own asyncio.Event; `changed` sets them."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def subscribe(self, workflow_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(workflow_id, set()).add(event)
        return event

    def unsubscribe(self, workflow_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(workflow_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[workflow_id]

    def changed(self, workflow_ids: Iterable[str]) -> None:
        for workflow_id in workflow_ids:
            for event in self._waiters.get(workflow_id, ()):
                event.set()

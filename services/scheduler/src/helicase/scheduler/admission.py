"""Admission: at most `limit` workflows run under this scheduler at once (pure).

A launch beyond the limit waits in FIFO order (its command stays uncommitted). A cancel for a
waiting workflow lets it in at once, so the cancel can reach the controller without waiting for
unrelated workflows to finish.
"""

from __future__ import annotations

from collections import deque


class Admission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: set[str] = set()
        self._waiting: deque[str] = deque()

    def request(self, workflow_id: str) -> bool:
        """True if the workflow may launch now; otherwise it queues until `release` admits it."""
        if workflow_id in self.running:
            return True
        if workflow_id in self._waiting:
            return False
        if len(self.running) < self.limit and not self._waiting:
            self.running.add(workflow_id)
            return True
        self._waiting.append(workflow_id)
        return False

    def expedite(self, workflow_id: str) -> bool:
        """Admits a waiting workflow past the limit; True if it was waiting."""
        if workflow_id not in self._waiting:
            return False
        self._waiting.remove(workflow_id)
        self.running.add(workflow_id)
        return True

    def adopt(self, workflow_id: str) -> None:
        """Counts a workflow that already runs (adopted from a dead scheduler) past the limit."""
        self.running.add(workflow_id)

    def release(self, workflow_id: str) -> list[str]:
        """The workflow no longer runs here; returns the waiting workflows now admitted."""
        self.running.discard(workflow_id)
        admitted = []
        while self._waiting and len(self.running) < self.limit:
            nxt = self._waiting.popleft()
            self.running.add(nxt)
            admitted.append(nxt)
        return admitted

    @property
    def waiting(self) -> int:
        return len(self._waiting)

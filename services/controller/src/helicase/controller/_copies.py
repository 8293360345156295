"""Copies of participants' terminal events, held until the participant says its own is durable.

A participant reports a result as soon as the task ends and publishes the task's terminal event
meanwhile (the slot is not held for a broker round trip). The controller, once the result's state
is durable, holds a copy of that event (same event id, so PostgreSQL stores it once):

- the participant's TaskPublished (its own event is in Kafka) drops the copy;
- the participant's stream ending, or the copy waiting past `patience`, publishes it: the
  participant may be gone, and its event with it;
- a TaskPublished that arrives before the copy is held (the stream outran the commit) is kept
  for `memory` seconds, so the copy is dropped when it comes.

A workflow's terminal event waits (`after`) until no copy of that workflow is held, so it reaches
Kafka after every task event of the workflow (one partition per workflow keeps them in order):
a workflow seen COMPLETED in PostgreSQL has all its task events stored.

Pure bookkeeping: the Core does the publishing, in the order these methods return.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from helicase.controller._workflow import Ref

Key = tuple[str, Ref]  # (participant, task ref)


@dataclass(frozen=True, slots=True)
class Copy:
    key: str  # the Kafka key: the workflow id
    value: bytes  # the serialized event
    since: float


@dataclass
class HeldCopies:
    patience: float = 5.0
    memory: float = 60.0
    _held: dict[Key, Copy] = field(default_factory=dict)
    _confirmed: dict[Key, float] = field(default_factory=dict)
    _per_workflow: Counter[str] = field(default_factory=Counter)
    _after: dict[str, list[Copy]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, participant: str, ref: Ref, copy: Copy) -> None:
        if self._confirmed.pop((participant, ref), None) is None:
            self._held[(participant, ref)] = copy
            self._per_workflow[ref[0]] += 1

    def after(self, copy: Copy) -> list[Copy]:
        """An event to publish once its workflow has no copy held: now, or later."""
        if self._per_workflow[copy.key] == 0:
            del self._per_workflow[copy.key]
            return [copy]
        self._after.setdefault(copy.key, []).append(copy)
        return []

    def confirm(self, participant: str, ref: Ref, now: float) -> list[Copy]:
        """The participant's own event is durable; returns events now free to go."""
        if self._take((participant, ref)) is None:
            self._confirmed[(participant, ref)] = now
            return []
        return self._unblocked(ref[0])

    def release(self, participant: str) -> list[Copy]:
        """The participant's stream ended: every copy held for it, to publish."""
        return self._publish([k for k in self._held if k[0] == participant])

    def due(self, now: float) -> list[Copy]:
        """Copies held past `patience`, to publish; forgets confirmations past `memory`."""
        for k in [k for k, at in self._confirmed.items() if now - at >= self.memory]:
            del self._confirmed[k]
        return self._publish([k for k, c in self._held.items() if now - c.since >= self.patience])

    def release_all(self) -> list[Copy]:
        out = self._publish(list(self._held))
        for waiting in self._after.values():
            out += waiting
        self._after.clear()
        self._confirmed.clear()
        return out

    def _take(self, key: Key) -> Copy | None:
        copy = self._held.pop(key, None)
        if copy is not None:
            self._per_workflow[key[1][0]] -= 1
        return copy

    def _unblocked(self, workflow_id: str) -> list[Copy]:
        if self._per_workflow[workflow_id] > 0:
            return []
        del self._per_workflow[workflow_id]
        return self._after.pop(workflow_id, [])

    def _publish(self, keys: list[Key]) -> list[Copy]:
        out: list[Copy] = []
        for key in keys:
            copy = self._take(key)
            if copy is not None:
                out.append(copy)
        for workflow_id in {key[1][0] for key in keys}:
            out += self._unblocked(workflow_id)
        return out

"""Copies of participants' terminal events, held until the participant says its own is durable.

A participant reports a result as soon as the task ends and publishes the task's terminal event
meanwhile (the slot is not held for a broker round trip). The controller, once the result's state
is durable, holds a copy of that event (same event id, so PostgreSQL stores it once):

- the participant's TaskPublished (its own event is in Kafka) drops the copy;
- the participant's stream ending, or the copy waiting past `patience`, publishes it: the
  participant may be gone, and its event with it;
- a TaskPublished that arrives before the copy is held (the stream outran the commit) is kept
  for `memory` seconds, so the copy is dropped when it comes.

Pure bookkeeping: the Core does the publishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helicase.controller._workflow import Ref

Key = tuple[str, Ref]  # (participant, task ref)


@dataclass(frozen=True, slots=True)
class Copy:
    key: str  # the Kafka key (the workflow id)
    value: bytes  # the serialized event
    since: float


@dataclass
class HeldCopies:
    patience: float = 5.0
    memory: float = 60.0
    _held: dict[Key, Copy] = field(default_factory=dict)
    _confirmed: dict[Key, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, participant: str, ref: Ref, copy: Copy) -> None:
        if self._confirmed.pop((participant, ref), None) is None:
            self._held[(participant, ref)] = copy

    def confirm(self, participant: str, ref: Ref, now: float) -> None:
        if self._held.pop((participant, ref), None) is None:
            self._confirmed[(participant, ref)] = now

    def release(self, participant: str) -> list[Copy]:
        """The participant's stream ended: every copy held for it, to publish."""
        keys = [k for k in self._held if k[0] == participant]
        return [self._held.pop(k) for k in keys]

    def due(self, now: float) -> list[Copy]:
        """Copies held past `patience`, to publish; forgets confirmations past `memory`."""
        late = [k for k, c in self._held.items() if now - c.since >= self.patience]
        for k in [k for k, at in self._confirmed.items() if now - at >= self.memory]:
            del self._confirmed[k]
        return [self._held.pop(k) for k in late]

    def release_all(self) -> list[Copy]:
        copies = list(self._held.values())
        self._held.clear()
        self._confirmed.clear()
        return copies

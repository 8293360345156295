"""Where ready tasks go: participants as the controller sees them, and the ready queue.

Placement takes the oldest ready task (across workflows) whose (instance group, task type) has
a participant with a free slot, and puts it on the least-loaded such participant, where load =
tasks assigned or running / capacity. Work per placement is O(queues x participants of the
group); no scan of all tasks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from helicase.controller._workflow import Ref

Kind = tuple[str, str]  # (instance group, task type)
Entry = tuple[int, str, int, float]  # age, workflow id, task index, READY since


class ParticipantView:
    """A participant: what it serves, its capacity, and the task refs it holds."""

    __slots__ = ("capacity", "connected", "group", "load", "name", "session", "task_types")

    def __init__(
        self,
        *,
        name: str,
        group: str,
        task_types: frozenset[str],
        capacity: int,
        connected: bool = True,
        session: int = 0,
    ) -> None:
        self.name = name
        self.group = group
        self.task_types = task_types
        self.capacity = capacity
        self.connected = connected
        self.session = session  # counts (re)connections; tells stale grace timers apart
        self.load: set[Ref] = set()

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self.load)) if self.connected else 0


class Pool:
    """Every participant by name and by instance group."""

    def __init__(self) -> None:
        self._by_name: dict[str, ParticipantView] = {}
        self._by_group: dict[str, dict[str, ParticipantView]] = {}
        self._sessions = 0

    def new_session(self) -> int:
        """A session number never used before, also across incarnations of one name: a grace
        timer of an earlier incarnation never matches a later one."""
        self._sessions += 1
        return self._sessions

    def __iter__(self) -> Iterator[ParticipantView]:
        return iter(list(self._by_name.values()))

    def get(self, name: str) -> ParticipantView | None:
        return self._by_name.get(name)

    def put(self, view: ParticipantView) -> None:
        self.remove(view.name)
        self._by_name[view.name] = view
        self._by_group.setdefault(view.group, {})[view.name] = view

    def remove(self, name: str) -> ParticipantView | None:
        view = self._by_name.pop(name, None)
        if view is not None:
            members = self._by_group[view.group]
            del members[view.name]
            if not members:
                del self._by_group[view.group]
        return view

    def release(self, name: str, ref: Ref) -> None:
        view = self._by_name.get(name)
        if view is not None:
            view.load.discard(ref)

    def least_loaded(self, kind: Kind) -> ParticipantView | None:
        """The participant of the kind's group serving its type with the lowest load among those
        with a free slot (ties by name, so the choice is deterministic)."""
        group, task_type = kind
        best: ParticipantView | None = None
        best_key = (0.0, "")
        for view in self._by_group.get(group, {}).values():
            if view.free <= 0 or task_type not in view.task_types:
                continue
            key = (len(view.load) / view.capacity, view.name)
            if best is None or key < best_key:
                best, best_key = view, key
        return best


class ReadyQueue:
    """READY tasks in the order they became ready, one FIFO per kind. Entries can go stale (the
    task was cancelled or its workflow ended); `pop_next` drops those lazily."""

    def __init__(self) -> None:
        self._queues: dict[Kind, deque[Entry]] = {}
        self._age = 0

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def push(self, kind: Kind, workflow_id: str, index: int, since: float = 0.0) -> None:
        self._age += 1
        self._queues.setdefault(kind, deque()).append((self._age, workflow_id, index, since))

    def pop_next(
        self, *, is_live: Callable[[str, int], bool], pool: Pool
    ) -> tuple[str, int, ParticipantView, float] | None:
        """The oldest live entry that has a participant to go to, removed, with that participant
        and the time the task became READY."""
        best: tuple[int, Kind, ParticipantView] | None = None
        for kind in list(self._queues):
            queue = self._queues[kind]
            while queue and not is_live(queue[0][1], queue[0][2]):
                queue.popleft()
            if not queue:
                del self._queues[kind]
                continue
            if best is not None and queue[0][0] > best[0]:
                continue
            target = pool.least_loaded(kind)
            if target is not None:
                best = (queue[0][0], kind, target)
        if best is None:
            return None
        _, workflow_id, index, since = self._queues[best[1]].popleft()
        return workflow_id, index, best[2], since

"""Which Kafka offsets may be committed when messages finish out of order (pure).

Commands of different workflows are processed concurrently, so a later offset can finish before
an earlier one. A partition's commit only ever moves to the first offset not yet done: a crash
re-reads everything unfinished (and perhaps some finished work, which is idempotent).
"""

from __future__ import annotations

Partition = tuple[str, int]


class _PartitionOffsets:
    def __init__(self) -> None:
        self.in_flight: set[int] = set()
        self.highest = -1  # highest offset started
        self.committed = -1  # last next-offset handed out for commit

    def committable(self) -> int:
        return min(self.in_flight) if self.in_flight else self.highest + 1


class CommitTracker:
    """Offsets started and done per partition; `done` says when a commit may advance."""

    def __init__(self) -> None:
        self._partitions: dict[Partition, _PartitionOffsets] = {}

    def start(self, partition: Partition, offset: int) -> None:
        state = self._partitions.get(partition)
        if state is None:
            # The group's position is already here: committing it again would be a no-op.
            state = self._partitions[partition] = _PartitionOffsets()
            state.committed = offset
        state.in_flight.add(offset)
        state.highest = max(state.highest, offset)

    def done(self, partition: Partition, offset: int) -> int | None:
        """Marks `offset` done; returns the partition's new commit offset (the next offset to
        read) if it advanced, else None. Offsets of a forgotten partition are ignored."""
        state = self._partitions.get(partition)
        if state is None or offset not in state.in_flight:
            return None
        state.in_flight.discard(offset)
        target = state.committable()
        if target > state.committed:
            state.committed = target
            return target
        return None

    def forget(self, partition: Partition) -> None:
        """The partition was revoked: its in-flight work will be re-read by its next owner."""
        self._partitions.pop(partition, None)

    def in_flight(self) -> int:
        return sum(len(p.in_flight) for p in self._partitions.values())

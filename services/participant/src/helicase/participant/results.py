"""Results waiting for the controller's acknowledgement (pure bookkeeping)."""

from __future__ import annotations

from helicase.internal.v1 import participant_pb2

Key = tuple[str, str, int, int]


def key_of(ref: participant_pb2.TaskRef) -> Key:
    return (ref.workflow_id, ref.task_id, ref.attempt, ref.placement)


class Unacked:
    """Results sent (or to send) until a ResultAck names them; re-sent after a reconnect."""

    def __init__(self) -> None:
        self._results: dict[Key, participant_pb2.TaskResult] = {}

    def add(self, result: participant_pb2.TaskResult) -> None:
        self._results[key_of(result.task)] = result

    def ack(self, refs: list[participant_pb2.TaskRef]) -> None:
        for ref in refs:
            self._results.pop(key_of(ref), None)

    def get(self, key: Key) -> participant_pb2.TaskResult | None:
        return self._results.get(key)

    def pending(self) -> list[participant_pb2.TaskResult]:
        return list(self._results.values())

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def __len__(self) -> int:
        return len(self._results)

"""ParticipantRegistryService's handlers: the live participants (the ZooKeeper participant
registry, kept by TaskTypeCatalog's watches) with their recorded load (participants.store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from helicase.api.participants.store import ParticipantLoads
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.common.registry import ParticipantInfo
from helicase.v1 import participant_registry_pb2, participant_registry_pb2_grpc


def select_participants(
    entries: Sequence[tuple[ParticipantInfo, float]], *, instance_group: str, task_type: str
) -> list[tuple[ParticipantInfo, float]]:
    """The entries of `instance_group` serving `task_type` (an empty filter matches all)."""
    return [
        (info, since)
        for info, since in entries
        if (not instance_group or info.group == instance_group)
        and (not task_type or any(t.name == task_type for t in info.task_types))
    ]


def participant_message(
    info: ParticipantInfo, connected_since: float, load: int
) -> participant_registry_pb2.Participant:
    since = timestamp_pb2.Timestamp()
    if connected_since > 0:
        since.FromNanoseconds(int(connected_since * 1e9))
    return participant_registry_pb2.Participant(
        name=info.name,
        instance_group=info.group,
        task_types=sorted(t.name for t in info.task_types),
        capacity=info.capacity,
        load=load,
        connected_since=since,
    )


def participant_messages(
    entries: Sequence[tuple[ParticipantInfo, float]], loads: Mapping[str, int]
) -> list[participant_registry_pb2.Participant]:
    ordered = sorted(entries, key=lambda e: (e[0].group, e[0].name))
    return [participant_message(info, since, loads.get(info.name, 0)) for info, since in ordered]


class ParticipantRegistryService(participant_registry_pb2_grpc.ParticipantRegistryServiceServicer):
    def __init__(self, task_types: TaskTypeCatalog, loads: ParticipantLoads) -> None:
        self._task_types = task_types
        self._loads = loads

    async def ListParticipants(
        self,
        request: participant_registry_pb2.ListParticipantsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> participant_registry_pb2.ListParticipantsResponse:
        entries = select_participants(
            self._task_types.participants(),
            instance_group=request.instance_group,
            task_type=request.task_type,
        )
        loads = await self._loads.loads({info.name for info, _ in entries})
        return participant_registry_pb2.ListParticipantsResponse(
            participants=participant_messages(entries, loads)
        )

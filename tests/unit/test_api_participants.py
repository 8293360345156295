"""ListParticipants' pure part: filtering the registry's entries and building the messages."""

from __future__ import annotations

from helicase.api.participants.service import participant_messages, select_participants
from helicase.common.registry import ParticipantInfo, TaskTypeInfo


def info(name: str, group: str, *types: str, capacity: int = 8) -> ParticipantInfo:
    return ParticipantInfo(
        name=name, group=group, capacity=capacity, task_types=[TaskTypeInfo(name=t) for t in types]
    )


ENTRIES = [
    (info("p2", "default", "shell", "noop"), 1_700_000_100.5),
    (info("gpu-1", "gpu", "train", capacity=1), 1_700_000_000.0),
    (info("p1", "default", "noop", "sleep"), 1_700_000_050.0),
]


def test_an_empty_filter_keeps_every_participant() -> None:
    assert select_participants(ENTRIES, instance_group="", task_type="") == ENTRIES


def names(found: list[tuple[ParticipantInfo, float]]) -> list[str]:
    return sorted(i.name for i, _ in found)


def test_filters_by_group_and_by_task_type_combine() -> None:
    assert names(select_participants(ENTRIES, instance_group="default", task_type="")) == [
        "p1",
        "p2",
    ]
    assert names(select_participants(ENTRIES, instance_group="", task_type="noop")) == ["p1", "p2"]
    assert names(select_participants(ENTRIES, instance_group="default", task_type="sleep")) == [
        "p1"
    ]
    assert select_participants(ENTRIES, instance_group="gpu", task_type="noop") == []


def test_messages_come_by_group_then_name_with_their_load_and_registration_time() -> None:
    messages = participant_messages(ENTRIES, {"p1": 3, "gpu-1": 1, "gone": 9})
    assert [(m.instance_group, m.name) for m in messages] == [
        ("default", "p1"),
        ("default", "p2"),
        ("gpu", "gpu-1"),
    ]
    p1, p2, gpu = messages
    assert (p1.load, p2.load, gpu.load) == (3, 0, 1)
    assert list(p2.task_types) == ["noop", "shell"]
    assert gpu.capacity == 1
    assert p2.connected_since.seconds == 1_700_000_100
    assert p2.connected_since.nanos == 500_000_000

"""The sink's batching: decoding, dead letters, offsets, and isolating rejected events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.common import events
from helicase.internal.v1 import event_pb2
from helicase.sink.batching import Record, blamed_indices, build_batch
from helicase.sink.recorder import Rejected, store_isolating_rejects
from helicase.v1 import workflow_pb2

T = "helicase.events"


def event(n: int) -> event_pb2.Event:
    return events.workflow_event(
        workflow_id=f"w{n}", state=workflow_pb2.WORKFLOW_STATE_RUNNING, source="test"
    )


def record(partition: int, offset: int, value: bytes | None) -> Record:
    return Record(topic=T, partition=partition, offset=offset, key=b"k", value=value)


def test_batch_decodes_events_and_commits_past_the_last_offset_per_partition() -> None:
    batch = build_batch(
        [
            record(0, 5, event(1).SerializeToString()),
            record(1, 9, event(2).SerializeToString()),
            record(0, 6, event(3).SerializeToString()),
        ]
    )
    assert [e.workflow_id for e in batch.events] == ["w1", "w2", "w3"]
    assert batch.commit == {(T, 0): 7, (T, 1): 10}
    assert batch.dead == []


def test_undecodable_messages_are_dead_letters_but_still_committed() -> None:
    batch = build_batch([record(0, 1, b"\xff\xff not protobuf"), record(0, 2, None)])
    assert batch.events == []
    assert len(batch.dead) == 2
    assert batch.commit == {(T, 0): 3}


def test_an_event_without_id_is_a_dead_letter() -> None:
    batch = build_batch([record(0, 1, event_pb2.Event(workflow_id="w").SerializeToString())])
    assert [d.reason for d in batch.dead] == ["event has no event_id"]


def test_blamed_indices_read_the_apis_field_violations() -> None:
    fields = ["events[3].workflow_id", "events[0].payload", "events[99].x", "other"]
    assert blamed_indices(fields, 10) == {0, 3}


class FakeApi:
    """Rejects any batch holding a bad event; names the offenders only if `names`."""

    def __init__(self, bad: set[str], names: bool) -> None:
        self.bad = bad
        self.names = names
        self.stored: list[str] = []
        self.calls = 0

    async def __call__(self, batch: list[event_pb2.Event]) -> None:
        self.calls += 1
        offenders = [i for i, e in enumerate(batch) if e.workflow_id in self.bad]
        if offenders:
            fields = [f"events[{i}].workflow_id" for i in offenders] if self.names else []
            raise Rejected("not a workflow id", fields)
        self.stored.extend(e.workflow_id for e in batch)


@given(
    st.integers(1, 40),
    st.sets(st.integers(0, 39)),
    st.booleans(),
)
async def test_rejected_events_are_isolated_and_every_other_event_is_stored(
    size: int, bad_numbers: set[int], names: bool
) -> None:
    batch = [event(n) for n in range(size)]
    bad = {f"w{n}" for n in bad_numbers if n < size}
    api = FakeApi(bad, names)
    rejected = await store_isolating_rejects(batch, api)
    assert {batch[i].workflow_id for i in rejected} == bad
    assert sorted(api.stored) == sorted(e.workflow_id for e in batch if e.workflow_id not in bad)


async def test_one_bad_event_costs_few_calls_when_the_api_names_it() -> None:
    batch = [event(n) for n in range(500)]
    api = FakeApi({"w250"}, names=True)
    rejected = await store_isolating_rejects(batch, api)
    assert list(rejected) == [250]
    assert api.calls == 3  # the batch, the offender alone, the rest

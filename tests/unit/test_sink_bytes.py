"""The sink's byte batching: calls of at most HELICASE_SINK_BATCH_BYTES, a call refused for its
size split until it fits, and an event that never fits isolated as a dead letter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.common import events
from helicase.internal.v1 import event_pb2
from helicase.sink.batching import by_bytes, framed_size
from helicase.sink.recorder import Rejected, store_isolating_rejects
from helicase.v1 import workflow_pb2


def event(n: int, padding: int) -> event_pb2.Event:
    e = events.workflow_event(
        workflow_id=f"w{n}", state=workflow_pb2.WORKFLOW_STATE_CANCELED, source="test"
    )
    e.workflow_event.message = "x" * padding
    return e


@given(st.lists(st.integers(0, 5000), max_size=60), st.integers(1, 6000))
def test_runs_keep_order_and_stay_under_the_limit_unless_alone(
    sizes: list[int], limit: int
) -> None:
    runs = by_bytes(sizes, limit)
    assert [i for run in runs for i in run] == list(range(len(sizes)))
    for run in runs:
        assert len(run) == 1 or sum(sizes[i] for i in run) <= limit


def test_framed_size_is_what_the_request_grows_by() -> None:
    for padding in (0, 100, 200_000):
        e = event(1, padding)
        one = event_pb2.RecordEventsRequest(events=[e]).ByteSize()
        assert framed_size(e) == one


class SizeLimitedApi:
    """Refuses any call whose request is over `limit` bytes, as gRPC does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stored: list[str] = []
        self.calls: list[int] = []

    async def __call__(self, batch: list[event_pb2.Event]) -> None:
        size = event_pb2.RecordEventsRequest(events=batch).ByteSize()
        self.calls.append(size)
        if size > self.limit:
            raise Rejected(f"too large for RecordEvents: Sent message larger than max ({size})")
        self.stored.extend(e.workflow_id for e in batch)


async def test_a_batch_over_the_message_limit_is_split_until_it_fits() -> None:
    batch = [event(n, 200_000) for n in range(300)]  # ~60 MB, like the 300-task cancel
    api = SizeLimitedApi(limit=16 * 2**20)
    rejected = await store_isolating_rejects(batch, api)  # no byte limit: split on refusal
    assert rejected == {}
    assert sorted(api.stored) == sorted(e.workflow_id for e in batch)


async def test_the_byte_limit_keeps_every_call_under_it() -> None:
    batch = [event(n, 50_000) for n in range(200)]
    api = SizeLimitedApi(limit=16 * 2**20)
    rejected = await store_isolating_rejects(batch, api, max_bytes=1 << 20)
    assert rejected == {}
    assert len(api.stored) == 200
    assert max(api.calls) <= 1 << 20  # never refused: no call went over


@given(st.sets(st.integers(0, 29), max_size=5))
async def test_an_event_that_never_fits_is_isolated_and_the_rest_stored(
    huge: set[int],
) -> None:
    batch = [event(n, 3000 if n in huge else 100) for n in range(30)]
    api = SizeLimitedApi(limit=2000)
    rejected = await store_isolating_rejects(batch, api, max_bytes=1500)
    assert set(rejected) == huge
    assert all("larger than max" in reason for reason in rejected.values())
    assert sorted(api.stored) == sorted(f"w{n}" for n in range(30) if n not in huge)

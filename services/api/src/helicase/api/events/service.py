"""EventService (internal): the controllers and participants record workflow and task events,
which fold into the read model the public services answer from."""

from __future__ import annotations

from helicase.api import metrics
from helicase.api.convert import parse_id
from helicase.api.errors import Context
from helicase.api.events.store import EventStore
from helicase.api.notify import ChangeNotifier
from helicase.common.errors import FieldViolation, InvalidArgument
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.states import WS
from helicase.internal.v1 import event_pb2, event_pb2_grpc

WS_NAMES: dict[int, str] = {
    int(value): name.removeprefix("WORKFLOW_STATE_") for name, value in WS.items()
}


def check_events(request: event_pb2.RecordEventsRequest) -> None:
    """Raises InvalidArgument naming every event without an id, a workflow id or a payload."""
    violations = []
    # Each distinct workflow id parsed once, not once per event.
    bad_ids = {w for w in {e.workflow_id for e in request.events} if parse_id(w) is None}
    for index, event in enumerate(request.events):
        if not event.event_id:
            violations.append(FieldViolation(f"events[{index}].event_id", "is required"))
        if event.workflow_id in bad_ids:
            violations.append(
                FieldViolation(f"events[{index}].workflow_id", "is not a workflow id")
            )
        if event.WhichOneof("payload") is None:
            violations.append(FieldViolation(f"events[{index}].payload", "is required"))
    if violations:
        raise InvalidArgument(violations)


class EventService(event_pb2_grpc.EventServiceServicer):
    def __init__(self, store: EventStore, notifier: ChangeNotifier) -> None:
        self._store = store
        self._notifier = notifier

    async def RecordEvents(
        self, request: event_pb2.RecordEventsRequest, context: Context
    ) -> event_pb2.RecordEventsResponse:
        check_events(request)
        stored, changed = await self._store.record_events(request.events)
        self._notifier.changed(changed)
        metrics.EVENTS_RECORDED.inc(stored)
        ended = {
            e.workflow_id
            for e in request.events
            if e.HasField("workflow_event") and e.workflow_event.state in WORKFLOW_TERMINAL
        } & changed
        if ended:
            for state, seconds in await self._store.end_to_end(ended):
                name = WS_NAMES.get(state, str(state))
                metrics.END_TO_END_SECONDS.labels(name).observe(seconds)
        return event_pb2.RecordEventsResponse(
            stored_count=stored, duplicate_count=len(request.events) - stored
        )

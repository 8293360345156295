"""EventService (internal): the controllers and participants record workflow and task events,
which fold into the read model the public services answer from."""

from __future__ import annotations

from helicase.api import metrics
from helicase.api.errors import Context
from helicase.api.events.store import EventStore
from helicase.api.events.validation import check_events
from helicase.api.notify import ChangeNotifier
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.states import WS
from helicase.internal.v1 import event_pb2, event_pb2_grpc

WS_NAMES: dict[int, str] = {
    int(value): name.removeprefix("WORKFLOW_STATE_") for name, value in WS.items()
}


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

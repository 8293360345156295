"""Task-lifecycle observers: a hook through which code outside the participant (the chaos
driver's ledger, a tracer) watches what each task goes through. None is installed by default.

A module named in HELICASE_PARTICIPANT_MODULES installs one at import with `observe(...)`; the
participant calls each installed observer, in order, on every event. An observer must be quick
and must not raise (an exception is logged and otherwise ignored)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from helicase.internal.v1 import participant_pb2

log = logging.getLogger(__name__)

TaskEventKind = Literal["assigned", "start", "finish", "acked", "superseded"]
"""assigned: the leader assigned the task; start: its code starts; finish: it ended (with its
outcome); acked: the controller recorded its result; superseded: the controller did not (the
result was stale)."""


@dataclass(frozen=True, kw_only=True)
class TaskEvent:
    kind: TaskEventKind
    participant: str
    ref: participant_pb2.TaskRef
    epoch: int  # the leader epoch of the stream the event belongs to (0 before the first)
    outcome: participant_pb2.TaskOutcome.ValueType | None = None  # finish, acked, superseded


class TaskObserver(Protocol):
    def __call__(self, event: TaskEvent, /) -> None: ...


_installed: list[TaskObserver] = []


def observe(observer: TaskObserver) -> None:
    """Installs `observer` for the participants created from now on in this process."""
    _installed.append(observer)


def installed() -> tuple[TaskObserver, ...]:
    return tuple(_installed)


def notify(observers: tuple[TaskObserver, ...], event: TaskEvent) -> None:
    for observer in observers:
        try:
            observer(event)
        except Exception:
            log.exception("task observer failed", extra={"event": event.kind})

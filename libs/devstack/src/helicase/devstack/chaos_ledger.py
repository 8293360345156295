"""The chaos driver's ledger: a participant task observer appending one JSON line per assignment
received, task start, finish and acknowledgement to a file (the record of what really ran), each
with the leader epoch of the stream it came on.

The chaos driver starts its participants with this module in HELICASE_PARTICIPANT_MODULES and
the file in HELICASE_CHAOS_LEDGER: importing it installs the ledger through the participant's
observer hook. Each line is one O_APPEND write, so several processes may share the file.
Failures to write are logged, never raised."""

from __future__ import annotations

import json
import logging
import os
import time

from helicase.devstack.settings import CHAOS_LEDGER
from helicase.internal.v1 import participant_pb2
from helicase.participant.observers import TaskEvent, observe

log = logging.getLogger(__name__)


class Ledger:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def __call__(self, event: TaskEvent) -> None:
        ref = event.ref
        line = json.dumps(
            {
                "t": time.time(),
                "participant": event.participant,
                "event": event.kind,
                "workflow_id": ref.workflow_id,
                "task_id": ref.task_id,
                "attempt": ref.attempt,
                "placement": ref.placement,
                "outcome": (
                    participant_pb2.TaskOutcome.Name(event.outcome)
                    if event.outcome is not None
                    else ""
                ),
                "epoch": event.epoch,
            },
            separators=(",", ":"),
        )
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, (line + "\n").encode())
        except OSError as exc:
            log.warning("ledger write failed", extra={"path": self.path, "error": str(exc)})


_path = CHAOS_LEDGER.read()
if _path:
    observe(Ledger(_path))

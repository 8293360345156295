"""The controller: leader-elected, runs each workflow's DAG as a pure state machine
(`Machine.handle(stimulus) -> actions`) with ZooKeeper persistence fenced by the leader epoch."""

from helicase.controller._codec import decode, encode
from helicase.controller._machine import Machine
from helicase.controller._model import (
    AckResult,
    Assign,
    CancelRequested,
    Emit,
    Forget,
    ParticipantJoined,
    ParticipantLost,
    Persist,
    SendCancel,
    StartTimer,
    StatusChanged,
    TaskResultReceived,
    TaskStarted,
    TimerFired,
    WorkflowReleased,
    WorkflowRun,
    WorkflowSubmitted,
)

__all__ = [
    "AckResult",
    "Assign",
    "CancelRequested",
    "Emit",
    "Forget",
    "Machine",
    "ParticipantJoined",
    "ParticipantLost",
    "Persist",
    "SendCancel",
    "StartTimer",
    "StatusChanged",
    "TaskResultReceived",
    "TaskStarted",
    "TimerFired",
    "WorkflowReleased",
    "WorkflowRun",
    "WorkflowSubmitted",
    "decode",
    "encode",
]

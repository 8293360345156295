"""The controller: leader-elected; runs each workflow's DAG as a pure state machine
(`Machine.handle(stimulus) -> actions`) inside an I/O shell that persists its state in ZooKeeper,
fenced by the leader epoch."""

from helicase.controller._actions import (
    CANCEL_DEADLINE,
    HELD_UNTIL_DURABLE,
    PARTICIPANT_GRACE,
    RESCHEDULE,
    RETRY,
    TASK_DEADLINE,
    TASK_DEADLINE_GRACE,
    AckResult,
    Action,
    Assign,
    Emit,
    Forget,
    Persist,
    SendCancel,
    StartTimer,
    WorkflowStatusChanged,
    to_send,
)
from helicase.controller._codec import decode, encode
from helicase.controller._dag import Definition, build
from helicase.controller._invariants import InvalidState
from helicase.controller._machine import Machine
from helicase.controller._placement import ParticipantView
from helicase.controller._retry import RetrySettings, backoff
from helicase.controller._steps import MachineSettings, Transition
from helicase.controller._stimuli import (
    AnyStimulus,
    CancelRequested,
    LeadershipTaken,
    ParticipantDisconnected,
    ParticipantJoined,
    ParticipantLost,
    Ref,
    Stimulus,
    TaskResultReceived,
    TaskStarted,
    TimerFired,
    WorkflowReleased,
    WorkflowSubmitted,
)
from helicase.controller._transitions import (
    TASK_TRANSITIONS,
    WORKFLOW_TRANSITIONS,
    InvalidTransition,
)
from helicase.controller._workflow import WorkflowRun, status_of

__all__ = [
    "CANCEL_DEADLINE",
    "HELD_UNTIL_DURABLE",
    "PARTICIPANT_GRACE",
    "RESCHEDULE",
    "RETRY",
    "TASK_DEADLINE",
    "TASK_DEADLINE_GRACE",
    "TASK_TRANSITIONS",
    "WORKFLOW_TRANSITIONS",
    "AckResult",
    "Action",
    "AnyStimulus",
    "Assign",
    "CancelRequested",
    "Definition",
    "Emit",
    "Forget",
    "InvalidState",
    "InvalidTransition",
    "LeadershipTaken",
    "Machine",
    "MachineSettings",
    "ParticipantDisconnected",
    "ParticipantJoined",
    "ParticipantLost",
    "ParticipantView",
    "Persist",
    "Ref",
    "RetrySettings",
    "SendCancel",
    "StartTimer",
    "Stimulus",
    "TaskResultReceived",
    "TaskStarted",
    "TimerFired",
    "Transition",
    "WorkflowReleased",
    "WorkflowRun",
    "WorkflowStatusChanged",
    "WorkflowSubmitted",
    "backoff",
    "build",
    "decode",
    "encode",
    "status_of",
    "to_send",
]

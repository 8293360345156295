"""The short names of the task and workflow state enums, defined once for every package.

`TS.TASK_STATE_COMPLETED` reads better than `workflow_pb2.TaskState.TASK_STATE_COMPLETED`; import
these instead of redefining the aliases locally.
"""

from __future__ import annotations

from helicase.v1 import workflow_pb2

TS = workflow_pb2.TaskState
WS = workflow_pb2.WorkflowState

__all__ = ["TS", "WS"]

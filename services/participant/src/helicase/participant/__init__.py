"""The participant: runs the tasks the controller leader assigns. Task authors use the SDK:
`task_type`, `Params`, `TaskContext`, `Reschedule` and `NonRetryableError`."""

from helicase.participant.sdk import NonRetryableError, Params, Reschedule, TaskContext, task_type

__all__ = ["NonRetryableError", "Params", "Reschedule", "TaskContext", "task_type"]

"""The participant: runs the tasks the controller leader assigns. Task authors use the SDK:
`task_type`, `TaskContext`, `Reschedule` and `NonRetryableError`."""

from helicase.participant.sdk import NonRetryableError, Reschedule, TaskContext, task_type

__all__ = ["NonRetryableError", "Reschedule", "TaskContext", "task_type"]

"""Typed asyncio client of Helicase's public API (workflows, task types, participants,
schedules, resources and credentials, experiments)."""

from helicase.client._client import HelicaseClient, load_workflow_request
from helicase.client._retry import NO_RETRY, RetryPolicy
from helicase.client._schedules_resources_experiments import EXPERIMENT_TERMINAL
from helicase.wire import MAX_MESSAGE_BYTES, WORKFLOW_TERMINAL, channel

__all__ = [
    "EXPERIMENT_TERMINAL",
    "MAX_MESSAGE_BYTES",
    "NO_RETRY",
    "WORKFLOW_TERMINAL",
    "HelicaseClient",
    "RetryPolicy",
    "channel",
    "load_workflow_request",
]

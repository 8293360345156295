"""Typed asyncio client of Helicase's public API (WorkflowService, TaskTypeService)."""

from helicase.client._client import HelicaseClient, load_workflow_request
from helicase.client._retry import NO_RETRY, RetryPolicy

__all__ = ["NO_RETRY", "HelicaseClient", "RetryPolicy", "load_workflow_request"]

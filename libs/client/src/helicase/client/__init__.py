"""Typed asyncio client of Helicase's public API (WorkflowService, TaskTypeService)."""

from helicase.client._client import HelicaseClient, load_workflow_request

__all__ = ["HelicaseClient", "load_workflow_request"]

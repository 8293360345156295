"""Names shared by the api and the components that call it for a tenant."""

from __future__ import annotations

TENANT_METADATA = "helicase-tenant"
"""gRPC metadata a Helicase component (a principal of ANY_TENANT, on the internal plane) sends
to name the tenant it acts for: the scheduler firing a schedule creates the workflow in the
schedule's tenant. The api ignores it from any other caller."""

RESERVED_LABEL_PREFIXES = ("helicase-", "helicase.", "helicase/")
"""Workflow label keys that Helicase itself sets (`helicase-schedule`, `helicase-fire-time`,
`helicase.experiment`, `helicase.cleanup`, and any it adds later); a caller may not set them."""


def reserved_label(key: str) -> bool:
    return key.startswith(RESERVED_LABEL_PREFIXES)

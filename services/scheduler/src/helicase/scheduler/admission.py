"""Admission: at most `limit` workflows run under this scheduler at once, and at most a
tenant's limit of one tenant (pure).

The tenant of a workflow is the one it was created in (`workflow.tenant` of its launch). Its
limit is the one its launch carries (`max_running_workflows`, set for the tenant through
AdminService.UpdateTenantLimits), else `tenant_limit` (HELICASE_SCHEDULER_MAX_RUNNING_PER_TENANT;
0: none); the latest launch of a tenant sets its limit for its waiting workflows too. A launch
beyond a limit waits (its command stays uncommitted); waiting workflows are admitted oldest
first, skipping those whose tenant is still at its limit, so one busy tenant does not hold up
the others. A cancel for a waiting workflow lets it in at once, so the cancel can reach the
controller without waiting for unrelated workflows to finish.
"""

from __future__ import annotations

from collections import Counter


class Admission:
    def __init__(self, limit: int, *, tenant_limit: int = 0) -> None:
        self.limit = limit
        self.tenant_limit = tenant_limit
        self.running: set[str] = set()
        self._tenant_of: dict[str, str] = {}
        self._per_tenant: Counter[str] = Counter()
        self._limit_of: dict[str, int] = {}  # a tenant's own limit, from its latest launch
        self._waiting: dict[str, str] = {}  # workflow id -> tenant, in arrival order

    def limit_of(self, tenant: str) -> int:
        """The most workflows of `tenant` that may run at once (0: no limit)."""
        return self._limit_of.get(tenant) or self.tenant_limit

    def _fits(self, tenant: str) -> bool:
        if len(self.running) >= self.limit:
            return False
        tenant_limit = self.limit_of(tenant) if tenant else 0
        return not (tenant_limit and self._per_tenant[tenant] >= tenant_limit)

    def _admit(self, workflow_id: str, tenant: str) -> None:
        self.running.add(workflow_id)
        if tenant:
            self._tenant_of[workflow_id] = tenant
            self._per_tenant[tenant] += 1

    def request(self, workflow_id: str, tenant: str = "", tenant_limit: int = 0) -> bool:
        """True if the workflow may launch now; otherwise it queues until `admit_waiting`
        (or `release`) admits it. `tenant_limit` (0: the default) becomes the tenant's."""
        if tenant:
            if tenant_limit:
                self._limit_of[tenant] = tenant_limit
            else:
                self._limit_of.pop(tenant, None)
        if workflow_id in self.running:
            return True
        if workflow_id in self._waiting:
            return False
        # A newcomer that fits goes ahead only of waiting workflows that do not fit (their
        # tenant is at its limit): it never jumps one that could run.
        if self._fits(tenant) and not any(self._fits(t) for t in self._waiting.values()):
            self._admit(workflow_id, tenant)
            return True
        self._waiting[workflow_id] = tenant
        return False

    def expedite(self, workflow_id: str) -> bool:
        """Admits a waiting workflow past the limits; True if it was waiting."""
        if workflow_id not in self._waiting:
            return False
        self._admit(workflow_id, self._waiting.pop(workflow_id))
        return True

    def adopt(self, workflow_id: str, tenant: str = "") -> None:
        """Counts a workflow that already runs (adopted from a dead scheduler) past the limits."""
        if workflow_id not in self.running:
            self._admit(workflow_id, tenant)

    def release(self, workflow_id: str) -> list[str]:
        """The workflow no longer runs here; returns the waiting workflows now admitted."""
        if workflow_id in self.running:
            self.running.discard(workflow_id)
            tenant = self._tenant_of.pop(workflow_id, "")
            if tenant:
                self._per_tenant[tenant] -= 1
        return self.admit_waiting()

    def admit_waiting(self) -> list[str]:
        """Admits the waiting workflows that fit now (a slot freed, or a tenant's limit was
        raised), oldest first; returns them."""
        admitted = []
        for waiting, tenant in list(self._waiting.items()):
            if len(self.running) >= self.limit:
                break
            if self._fits(tenant):
                del self._waiting[waiting]
                self._admit(waiting, tenant)
                admitted.append(waiting)
        return admitted

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def held_by_tenant(self) -> int:
        """Waiting workflows held only by their own tenant's limit (a slot is free for
        others): the backlog that tenant's queued-task quota bounds at the api."""
        return len(self.held_ids())

    def held_ids(self) -> list[str]:
        """The ids of the workflows `held_by_tenant` counts."""
        if len(self.running) >= self.limit:
            return []
        return [
            workflow_id
            for workflow_id, tenant in self._waiting.items()
            if tenant
            and self.limit_of(tenant)
            and self._per_tenant[tenant] >= self.limit_of(tenant)
        ]

"""Who holds a running workflow: the one place that knows the znodes behind the answer.

Two facts, each with one writer:

- a workflow is *running* while the controller keeps its state (the controller writes it when it
  accepts the workflow and deletes it when the workflow ends; `RUNNING_WORKFLOWS` and
  `running_workflow` are the paths the controller's store writes);
- a running workflow is *owned* by the scheduler holding its owner node (ephemeral, so it goes
  with that scheduler's session): the scheduler that launched it, or one that adopted it.

The scheduler asks these functions and never names the controller's znodes. The functions are
blocking kazoo calls (run them off the event loop); `orphans` is pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from helicase.common import zkpaths

RUNNING_WORKFLOWS = zkpaths.WORKFLOWS
OWNERS = zkpaths.OWNERS


def running_workflow(workflow_id: str) -> str:
    """The controller's node of a running workflow (its compact state)."""
    return zkpaths.workflow_state(workflow_id)


# Reading the controller's side ------------------------------------------------------------------


def is_running(zk: KazooClient, workflow_id: str) -> bool:
    """True while the controller holds the workflow (it was submitted and has not ended)."""
    return zk.exists(running_workflow(workflow_id)) is not None


def running(zk: KazooClient) -> list[str]:
    """The ids of the workflows the controller holds."""
    try:
        return list(zk.get_children(RUNNING_WORKFLOWS))
    except NoNodeError:
        return []


# The schedulers' owner nodes ---------------------------------------------------------------------


def claim(zk: KazooClient, workflow_id: str, owner: str) -> str | None:
    """Makes `owner` the owner of the workflow unless another holds it. Returns None when `owner`
    holds it now (claimed here or earlier), else the id of the scheduler that does."""
    path = zkpaths.owner(workflow_id)
    while True:
        try:
            zk.create(path, owner.encode(), ephemeral=True, makepath=True)
            return None
        except NodeExistsError:
            pass
        try:
            data, _ = zk.get(path)
        except NoNodeError:
            continue  # released meanwhile: claim it
        holder = bytes(data).decode()
        return None if holder == owner else holder


def take(zk: KazooClient, workflow_id: str, owner: str) -> bool:
    """Makes `owner` the owner of an orphan: True if it created the owner node, False if any
    scheduler (this one included: a launch that is just starting) holds it already."""
    try:
        zk.create(zkpaths.owner(workflow_id), owner.encode(), ephemeral=True, makepath=True)
        return True
    except NodeExistsError:
        return False


def release(zk: KazooClient, workflow_id: str, owner: str) -> None:
    """Deletes the owner node if `owner` holds it (another scheduler's claim stays)."""
    path = zkpaths.owner(workflow_id)
    try:
        data, stat = zk.get(path)
        if bytes(data).decode() == owner:
            zk.delete(path, version=stat.version)
    except NoNodeError:
        pass


def owned(zk: KazooClient) -> set[str]:
    """The ids of the workflows some scheduler owns."""
    try:
        return set(zk.get_children(OWNERS))
    except NoNodeError:
        return set()


def orphans(running: Iterable[str], owned: Iterable[str]) -> list[str]:
    """The running workflows no scheduler owns, in the order given."""
    held = set(owned)
    return [workflow_id for workflow_id in running if workflow_id not in held]


def ensure_roots(zk: KazooClient) -> None:
    """Creates the parent of the owner nodes (a scheduler's start)."""
    zk.ensure_path(OWNERS)

"""Workflow state in ZooKeeper, written in fenced group-commit transactions."""

from __future__ import annotations

import logging

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from helicase.common import zkpaths
from helicase.controller import _codec
from helicase.controller._model import WorkflowRun

log = logging.getLogger(__name__)
MAX_TRANSACTION_BYTES = 800_000  # ZooKeeper refuses requests over ~1 MB (jute.maxbuffer)


class Fenced(Exception):
    """A newer leader bumped the epoch: this controller must stop writing."""


class StateStore:
    """Blocking calls: run them in a thread."""

    def __init__(self, zk: KazooClient) -> None:
        self._zk = zk
        self._created: set[str] = set()

    def load(self) -> list[WorkflowRun]:
        self._zk.ensure_path(zkpaths.WORKFLOWS)
        out = []
        for workflow_id in self._zk.get_children(zkpaths.WORKFLOWS):
            try:
                data, _ = self._zk.get(zkpaths.workflow_state(workflow_id))
                out.append(_codec.decode(data))
                self._created.add(workflow_id)
            except NoNodeError:
                continue
            except Exception:
                log.exception("unreadable workflow state", extra={"workflow_id": workflow_id})
        return out

    def write(self, epoch: int, states: dict[str, bytes | None]) -> None:
        """Writes (bytes) or deletes (None) workflow states, in transactions that each first check
        the epoch node's version, so a deposed leader's writes fail with Fenced."""
        batch: list[tuple[str, bytes | None]] = []
        size = 0
        for workflow_id, data in states.items():
            length = len(data or b"")
            if batch and size + length > MAX_TRANSACTION_BYTES:
                self._commit(epoch, batch)
                batch, size = [], 0
            batch.append((workflow_id, data))
            size += length
        if batch:
            self._commit(epoch, batch)

    def _commit(self, epoch: int, batch: list[tuple[str, bytes | None]]) -> None:
        tx = self._zk.transaction()
        tx.check(zkpaths.EPOCH, epoch)
        for workflow_id, data in batch:
            path = zkpaths.workflow_state(workflow_id)
            if data is None:
                if workflow_id in self._created:
                    tx.delete(path)
            elif workflow_id in self._created:
                tx.set_data(path, data)
            else:
                tx.create(path, data)
        results = tx.commit()
        if results and isinstance(results[0], Exception):
            raise Fenced(f"epoch {epoch} is no longer current: {results[0]!r}")
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            # A create that found the node (or a set that did not) after a failover: retry per node.
            self._repair(epoch, batch)
        for workflow_id, data in batch:
            if data is None:
                self._created.discard(workflow_id)
            else:
                self._created.add(workflow_id)

    def _repair(self, epoch: int, batch: list[tuple[str, bytes | None]]) -> None:
        for workflow_id, data in batch:
            path = zkpaths.workflow_state(workflow_id)
            tx = self._zk.transaction()
            tx.check(zkpaths.EPOCH, epoch)
            exists = self._zk.exists(path) is not None
            if data is None:
                if not exists:
                    continue
                tx.delete(path)
            elif exists:
                tx.set_data(path, data)
            else:
                tx.create(path, data)
            results = tx.commit()
            if results and isinstance(results[0], Exception):
                raise Fenced(f"epoch {epoch} is no longer current")

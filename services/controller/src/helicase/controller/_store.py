"""Workflow state in ZooKeeper, written in transactions fenced by the leader epoch.

Every transaction starts with `check(EPOCH, version=epoch)`: once another controller has bumped
the epoch, this one's writes fail (Fenced) and it steps down.

A znode holds about 1 MB (jute.maxbuffer), and so does one request. A state up to CHUNK_BYTES is
the node's data; a bigger one is split into chunk children `<id>/<generation>-<n>` written one
transaction each, then the node's data is set to a manifest naming the generation, which switches
readers over atomically; the previous generation's chunks are deleted in that same transaction.
A leader that dies half-way leaves unreferenced chunks that the next write removes.
"""

from __future__ import annotations

import json
import logging
import time

from kazoo.client import KazooClient, TransactionRequest
from kazoo.exceptions import BadVersionError, NoNodeError, RolledBackError

from helicase.common import zkpaths
from helicase.controller import _codec
from helicase.controller._workflow import WorkflowRun

log = logging.getLogger(__name__)
CHUNK_BYTES = 900_000
MAX_TRANSACTION_BYTES = 900_000
MANIFEST = b"helicase-chunks:"


class Fenced(Exception):
    """A newer leader bumped the epoch: this controller must stop writing."""


class StateWriteError(Exception):
    """A state transaction failed for another reason than fencing; the write is retried."""


def _manifest(generation: str, count: int) -> bytes:
    return MANIFEST + json.dumps({"generation": generation, "chunks": count}).encode()


class StateStore:
    """Blocking calls: run them in a thread (one at a time)."""

    def __init__(self, zk: KazooClient) -> None:
        self._zk = zk
        self._children: dict[str, set[str]] = {}  # node exists -> its chunk children
        self._ready = False  # WORKFLOWS exists

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> list[WorkflowRun]:
        self._zk.ensure_path(zkpaths.WORKFLOWS)
        self._children.clear()
        loaded = []
        for workflow_id in sorted(self._zk.get_children(zkpaths.WORKFLOWS)):
            path = zkpaths.workflow_state(workflow_id)
            try:
                data, _ = self._zk.get(path)
                self._children[workflow_id] = set(self._zk.get_children(path))
                if data.startswith(MANIFEST):
                    data = self._read_chunks(path, json.loads(data[len(MANIFEST) :]))
                if not data:
                    continue  # a first chunked write that never finished: never acknowledged
                loaded.append(_codec.decode(data))
            except NoNodeError:
                continue
            except Exception:
                log.exception("unreadable workflow state", extra={"workflow_id": workflow_id})
        return loaded

    def _read_chunks(self, path: str, manifest: dict[str, object]) -> bytes:
        generation, count = manifest["generation"], int(str(manifest["chunks"]))
        return b"".join(self._zk.get(f"{path}/{generation}-{n:05d}")[0] for n in range(count))

    # -- writing -------------------------------------------------------------------------------

    def write(self, epoch: int, states: dict[str, bytes | None]) -> None:
        """Writes (bytes) or deletes (None) workflow states; raises Fenced when deposed."""
        if not self._ready:
            self._zk.ensure_path(zkpaths.WORKFLOWS)
            self._ready = True
        batch: list[tuple[str, bytes | None]] = []
        size = 0
        for workflow_id, data in states.items():
            if data is not None and len(data) > CHUNK_BYTES:
                self._write_chunked(epoch, workflow_id, data)
                continue
            length = len(data or b"") + 200
            if batch and size + length > MAX_TRANSACTION_BYTES:
                self._commit(epoch, batch)
                batch, size = [], 0
            batch.append((workflow_id, data))
            size += length
        if batch:
            self._commit(epoch, batch)

    def _transaction(self, epoch: int) -> TransactionRequest:
        tx = self._zk.transaction()
        tx.check(zkpaths.EPOCH, epoch)
        return tx

    def _run(self, tx: TransactionRequest, *, strict: bool = True) -> list[object]:
        """Commits; raises Fenced when the epoch check failed, and (if strict) StateWriteError
        when another operation did."""
        results: list[object] = tx.commit()
        if results and isinstance(results[0], BadVersionError | NoNodeError):
            raise Fenced(f"the leader epoch moved on: {results[0]!r}")
        failed = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, RolledBackError)
        ]
        if strict and failed:
            raise StateWriteError(f"state transaction failed: {failed!r}")
        return results

    def _add_ops(self, tx: TransactionRequest, workflow_id: str, data: bytes | None) -> None:
        path = zkpaths.workflow_state(workflow_id)
        children = self._children.get(workflow_id)
        for child in sorted(children or ()):
            tx.delete(f"{path}/{child}")
        if data is None:
            if children is not None:
                tx.delete(path)
        elif children is not None:
            tx.set_data(path, data)
        else:
            tx.create(path, data)

    def _settled(self, workflow_id: str, data: bytes | None) -> None:
        if data is None:
            self._children.pop(workflow_id, None)
        else:
            self._children[workflow_id] = set()

    def _commit(self, epoch: int, batch: list[tuple[str, bytes | None]]) -> None:
        tx = self._transaction(epoch)
        for workflow_id, data in batch:
            self._add_ops(tx, workflow_id, data)
        results = self._run(tx, strict=False)
        if any(isinstance(r, Exception) and not isinstance(r, RolledBackError) for r in results):
            # Our view of which nodes exist was wrong (a write whose answer was lost, or a
            # failover): learn the truth and write each node on its own.
            for workflow_id, data in batch:
                self._refresh(workflow_id)
                single = self._transaction(epoch)
                self._add_ops(single, workflow_id, data)
                if data is not None or workflow_id in self._children:
                    self._run(single)
                self._settled(workflow_id, data)
            return
        for workflow_id, data in batch:
            self._settled(workflow_id, data)

    def _refresh(self, workflow_id: str) -> None:
        try:
            children = self._zk.get_children(zkpaths.workflow_state(workflow_id))
            self._children[workflow_id] = set(children)
        except NoNodeError:
            self._children.pop(workflow_id, None)

    def _write_chunked(self, epoch: int, workflow_id: str, data: bytes) -> None:
        self._refresh(workflow_id)
        path = zkpaths.workflow_state(workflow_id)
        if workflow_id not in self._children:
            tx = self._transaction(epoch)
            tx.create(path, b"")
            self._run(tx)
            self._children[workflow_id] = set()
        generation = f"{time.time_ns():x}"
        names = []
        for n, start in enumerate(range(0, len(data), CHUNK_BYTES)):
            name = f"{generation}-{n:05d}"
            tx = self._transaction(epoch)
            tx.create(f"{path}/{name}", data[start : start + CHUNK_BYTES])
            self._run(tx)
            names.append(name)
        tx = self._transaction(epoch)
        tx.set_data(path, _manifest(generation, len(names)))
        old = self._children[workflow_id]
        for child in sorted(old):
            tx.delete(f"{path}/{child}")
        self._run(tx)
        self._children[workflow_id] = set(names)

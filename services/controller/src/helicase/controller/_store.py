"""Workflow state in ZooKeeper, written in transactions fenced by the leader epoch.

Every transaction starts with `check(EPOCH, version=epoch)`: once another controller has bumped
the epoch, this one's writes fail (Fenced) and it steps down.

A workflow is two nodes. Its definition, `definitions/<id>` (the compressed helicase.v1.Workflow,
which never changes), is written once, when the workflow is first persisted; its state,
`workflows/<id>` (a version 5 frame of `_codec`: what changes, plus the definition's length and
CRC), on every commit. The definition goes into the same transaction as the first state when
both fit, otherwise into transactions of its own before it: a state is never visible without
its definition. A definition without a state (a leader that died in between) is garbage that
load() finds and the next write removes. Deleting a workflow deletes both in one transaction.
States stored before (versions 2 to 4) carry their definition and are read as they are; their
next commit stores them in two pieces.

A znode holds about 1 MB (jute.maxbuffer), and so does one request. A state or definition up to
CHUNK_BYTES is the node's data; a bigger one is split into chunk children
`<id>/<generation>-<n>` written one transaction each, then the node's data is set to a manifest
naming the generation, which switches readers over atomically; the previous generation's chunks
are deleted in that same transaction. A leader that dies half-way leaves unreferenced chunks
that the next write removes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from kazoo.client import KazooClient, TransactionRequest
from kazoo.exceptions import BadVersionError, NoNodeError, RolledBackError

from helicase.common import ownership, zkpaths
from helicase.controller import _codec
from helicase.controller._workflow import WorkflowRun

log = logging.getLogger(__name__)
CHUNK_BYTES = 900_000
MAX_TRANSACTION_BYTES = 900_000
MANIFEST = b"helicase-chunks:"
_OP_BYTES = 200  # budget of one operation's path and header in a transaction


class Fenced(Exception):
    """A newer leader bumped the epoch: this controller must stop writing."""


class StateWriteError(Exception):
    """A state transaction failed for another reason than fencing; the write is retried."""


def _manifest(generation: str, count: int) -> bytes:
    return MANIFEST + json.dumps({"generation": generation, "chunks": count}).encode()


class _Nodes:
    """One kind of per-workflow node (states or definitions) and what is known of them."""

    def __init__(self, root: str, path: Callable[[str], str]) -> None:
        self.root = root
        self.path = path
        self.children: dict[str, set[str]] = {}  # node exists -> its chunk children


@dataclass
class _Item:
    """One workflow of a write: its state frame (None deletes the workflow), what it was cut
    from, and its compressed definition when that goes into the same transaction."""

    workflow_id: str
    state: bytes | None
    data: bytes | None = None
    definition: bytes | None = None
    crc: int = 0

    def size(self) -> int:
        return len(self.state or b"") + len(self.definition or b"") + 2 * _OP_BYTES


class StateStore:
    """Blocking calls: run them in a thread. `load` and `write` take turns (a lock): a leader
    that failed hard may leave a write running in its thread while this process, elected
    again, loads; both use the caches below."""

    def __init__(self, zk: KazooClient) -> None:
        self._zk = zk
        self._lock = threading.Lock()
        self._states = _Nodes(ownership.RUNNING_WORKFLOWS, ownership.running_workflow)
        self._definitions = _Nodes(zkpaths.DEFINITIONS, zkpaths.workflow_definition)
        self._stored: dict[str, int] = {}  # workflow id -> CRC of its definition as stored
        self._garbage: set[str] = set()  # found by load(), removed by the next write
        self._ready = False  # WORKFLOWS and DEFINITIONS exist

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> list[WorkflowRun]:
        with self._lock:
            return self._load()

    def _load(self) -> list[WorkflowRun]:
        self._ensure_roots()
        for nodes in (self._states, self._definitions):
            nodes.children.clear()
        self._stored.clear()
        self._garbage.clear()
        loaded = []
        states = set(self._zk.get_children(ownership.RUNNING_WORKFLOWS))
        for workflow_id in sorted(states):
            try:
                data = self._read(self._states, workflow_id)
                if data is None:
                    continue
                if not data:
                    # A first chunked write that never finished: never acknowledged.
                    self._garbage.add(workflow_id)
                    continue
                packed = None
                if _codec.stored_apart(data):
                    packed = self._read(self._definitions, workflow_id)
                workflow = _codec.decode(data, definition=packed)
                if packed is not None:
                    self._stored[workflow_id] = zlib.crc32(packed)
                loaded.append(workflow)
            except Exception:
                log.exception("unreadable workflow state", extra={"workflow_id": workflow_id})
        for workflow_id in self._zk.get_children(zkpaths.DEFINITIONS):
            if workflow_id not in self._definitions.children:
                self._refresh(self._definitions, workflow_id)
            if workflow_id not in states:
                self._garbage.add(workflow_id)  # a definition whose state was never written
        return loaded

    def _read(self, nodes: _Nodes, workflow_id: str) -> bytes | None:
        """The node's data (its chunks joined), or None when it does not exist."""
        path = nodes.path(workflow_id)
        try:
            data, _ = self._zk.get(path)
            nodes.children[workflow_id] = set(self._zk.get_children(path))
            if data.startswith(MANIFEST):
                data = self._read_chunks(path, json.loads(data[len(MANIFEST) :]))
        except NoNodeError:
            nodes.children.pop(workflow_id, None)
            return None
        return bytes(data)

    def _read_chunks(self, path: str, manifest: dict[str, object]) -> bytes:
        generation, count = manifest["generation"], int(str(manifest["chunks"]))
        return b"".join(self._zk.get(f"{path}/{generation}-{n:05d}")[0] for n in range(count))

    # -- writing -------------------------------------------------------------------------------

    def write(self, epoch: int, states: dict[str, bytes | None]) -> None:
        """Writes (bytes, as `_codec.encode` makes them) or deletes (None) workflow states;
        raises Fenced when deposed."""
        with self._lock:
            self._write(epoch, states)

    def _write(self, epoch: int, states: dict[str, bytes | None]) -> None:
        self._ensure_roots()
        if self._garbage:
            garbage, self._garbage = self._garbage, set()
            pending: dict[str, bytes | None] = dict.fromkeys(sorted(garbage))
            pending.update(states)
            states = pending
        batch: list[_Item] = []
        size = 0
        for workflow_id, data in states.items():
            item = self._item(epoch, workflow_id, data)
            if item.state is not None and len(item.state) > CHUNK_BYTES:
                self._write_chunked(epoch, self._states, workflow_id, item.state)
                continue
            if batch and size + item.size() > MAX_TRANSACTION_BYTES:
                self._commit(epoch, batch)
                batch, size = [], 0
            batch.append(item)
            size += item.size()
        if batch:
            self._commit(epoch, batch)

    def _ensure_roots(self) -> None:
        if not self._ready:
            self._zk.ensure_path(ownership.RUNNING_WORKFLOWS)
            self._zk.ensure_path(zkpaths.DEFINITIONS)
            self._ready = True

    def _item(self, epoch: int, workflow_id: str, data: bytes | None) -> _Item:
        """What to commit for one workflow; writes its definition first, on its own, when it
        is not stored yet and does not fit into one transaction with the state."""
        if data is None:
            return _Item(workflow_id, None)
        pieces = _codec.split(data)
        if len(pieces.frame) > CHUNK_BYTES:
            # Written in several transactions, without a retry that could catch a wrong view.
            self._refresh(self._definitions, workflow_id)
            if workflow_id not in self._definitions.children:
                self._stored.pop(workflow_id, None)
        if self._stored.get(workflow_id) == pieces.crc:
            return _Item(workflow_id, pieces.frame, data)
        definition = bytes(pieces.definition)
        item = _Item(workflow_id, pieces.frame, data, definition, pieces.crc)
        if len(pieces.frame) <= CHUNK_BYTES and item.size() <= MAX_TRANSACTION_BYTES:
            return item
        self._write_alone(epoch, self._definitions, workflow_id, definition)
        self._stored[workflow_id] = pieces.crc
        return _Item(workflow_id, pieces.frame, data)

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

    def _add_ops(
        self, tx: TransactionRequest, nodes: _Nodes, workflow_id: str, data: bytes | None
    ) -> None:
        path = nodes.path(workflow_id)
        children = nodes.children.get(workflow_id)
        for child in sorted(children or ()):
            tx.delete(f"{path}/{child}")
        if data is None:
            if children is not None:
                tx.delete(path)
        elif children is not None:
            tx.set_data(path, data)
        else:
            tx.create(path, data)

    def _item_ops(self, tx: TransactionRequest, item: _Item) -> None:
        if item.state is None:
            self._add_ops(tx, self._states, item.workflow_id, None)
            self._add_ops(tx, self._definitions, item.workflow_id, None)
            return
        if item.definition is not None:
            self._add_ops(tx, self._definitions, item.workflow_id, item.definition)
        self._add_ops(tx, self._states, item.workflow_id, item.state)

    def _settled(self, item: _Item) -> None:
        workflow_id = item.workflow_id
        if item.state is None:
            self._states.children.pop(workflow_id, None)
            self._definitions.children.pop(workflow_id, None)
            self._stored.pop(workflow_id, None)
            return
        self._states.children[workflow_id] = set()
        if item.definition is not None:
            self._definitions.children[workflow_id] = set()
            self._stored[workflow_id] = item.crc

    def _commit(self, epoch: int, batch: list[_Item]) -> None:
        tx = self._transaction(epoch)
        for item in batch:
            self._item_ops(tx, item)
        results = self._run(tx, strict=False)
        if any(isinstance(r, Exception) and not isinstance(r, RolledBackError) for r in results):
            # Our view of which nodes exist was wrong (a write whose answer was lost, or a
            # failover): learn the truth and write each workflow on its own, its definition
            # again with it, for that may be gone as well.
            for item in batch:
                self._refresh(self._states, item.workflow_id)
                self._refresh(self._definitions, item.workflow_id)
                self._stored.pop(item.workflow_id, None)
                if item.data is not None:
                    item = self._item(epoch, item.workflow_id, item.data)
                single = self._transaction(epoch)
                self._item_ops(single, item)
                if len(single.operations) > 1:
                    self._run(single)
                self._settled(item)
            return
        for item in batch:
            self._settled(item)

    def _refresh(self, nodes: _Nodes, workflow_id: str) -> None:
        try:
            nodes.children[workflow_id] = set(self._zk.get_children(nodes.path(workflow_id)))
        except NoNodeError:
            nodes.children.pop(workflow_id, None)

    def _write_alone(self, epoch: int, nodes: _Nodes, workflow_id: str, data: bytes) -> None:
        """Writes one node in transactions of its own (chunked when big)."""
        if len(data) > CHUNK_BYTES:
            self._write_chunked(epoch, nodes, workflow_id, data)
            return
        self._refresh(nodes, workflow_id)
        tx = self._transaction(epoch)
        self._add_ops(tx, nodes, workflow_id, data)
        self._run(tx)
        nodes.children[workflow_id] = set()

    def _write_chunked(self, epoch: int, nodes: _Nodes, workflow_id: str, data: bytes) -> None:
        self._refresh(nodes, workflow_id)
        path = nodes.path(workflow_id)
        if workflow_id not in nodes.children:
            tx = self._transaction(epoch)
            tx.create(path, b"")
            self._run(tx)
            nodes.children[workflow_id] = set()
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
        old = nodes.children[workflow_id]
        for child in sorted(old):
            tx.delete(f"{path}/{child}")
        self._run(tx)
        nodes.children[workflow_id] = set(names)

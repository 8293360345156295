"""The live task-type catalog: the task types and the participants serving them, read from
ZooKeeper (the participant registry) and kept fresh by watches.

/helicase/tasktypes/<type> holds each type's definition (written by participants);
/helicase/participants/<group>/<name> are the live participants serving them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from helicase.common import zkpaths
from helicase.common.registry import ParticipantInfo, TaskTypeInfo, decode_task_type

log = logging.getLogger(__name__)


class TaskTypeCatalog:
    """Thread-safe cache; kazoo calls the watches from its own thread."""

    def __init__(self, zk: KazooClient) -> None:
        self._zk = zk
        self._lock = threading.Lock()
        self._types: dict[str, TaskTypeInfo] = {}
        self._participants: dict[tuple[str, str], ParticipantInfo] = {}
        self._registered_at: dict[tuple[str, str], float] = {}  # node ctime, epoch seconds
        self._watched_groups: set[str] = set()
        self._watched_types: set[str] = set()

    def start(self) -> None:
        self._zk.ensure_path(zkpaths.TASK_TYPES)
        self._zk.ensure_path(zkpaths.PARTICIPANTS)
        ChildrenWatch(self._zk, zkpaths.TASK_TYPES, self._on_types)
        ChildrenWatch(self._zk, zkpaths.PARTICIPANTS, self._on_groups)

    def _first_watch(self, watched: set[str], name: str) -> bool:
        """Whether `name` is new to `watched` (it is added): each node gets one watch, however
        often its parent's children change."""
        with self._lock:
            if name in watched:
                return False
            watched.add(name)
            return True

    def _on_types(self, names: list[str]) -> None:
        for name in names:
            if self._first_watch(self._watched_types, name):
                DataWatch(self._zk, zkpaths.task_type(name), self._type_watcher(name))

    def _type_watcher(self, name: str) -> Any:
        def on_data(data: bytes | None, _stat: object) -> bool:
            with self._lock:
                if data is None:
                    self._types.pop(name, None)
                    self._watched_types.discard(name)
                    return False
                try:
                    self._types[name] = decode_task_type(data)
                except (ValueError, TypeError):
                    log.warning("unreadable task type definition", extra={"task_type": name})
            return True

        return on_data

    def _on_groups(self, groups: list[str]) -> None:
        for group in groups:
            if self._first_watch(self._watched_groups, group):
                watcher = self._group_watcher(group)
                ChildrenWatch(self._zk, zkpaths.participant_group(group), watcher)

    def _group_watcher(self, group: str) -> Any:
        def on_children(names: list[str]) -> None:
            found: dict[tuple[str, str], ParticipantInfo] = {}
            since: dict[tuple[str, str], float] = {}
            for name in names:
                try:
                    data, stat = self._zk.get(zkpaths.participant(group, name))
                    found[(group, name)] = ParticipantInfo.decode(data)
                    since[(group, name)] = stat.ctime / 1000.0
                except (NoNodeError, ValueError, TypeError):
                    continue
            with self._lock:
                for key in [k for k in self._participants if k[0] == group]:
                    del self._participants[key]
                    self._registered_at.pop(key, None)
                self._participants.update(found)
                self._registered_at.update(since)

        return on_children

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Known task types and their params schemas (validation uses these)."""
        with self._lock:
            return {name: dict(info.params_schema) for name, info in self._types.items()}

    def task_types(self, instance_group: str = "") -> list[tuple[TaskTypeInfo, list[str], int]]:
        """(type, groups with a live participant serving it, live participant count), by name."""
        with self._lock:
            types = dict(self._types)
            participants = list(self._participants.values())
        out = []
        for name in sorted(types):
            serving = [p for p in participants if any(t.name == name for t in p.task_types)]
            groups = sorted({p.group for p in serving})
            if instance_group and instance_group not in groups:
                continue
            out.append((types[name], groups, len(serving)))
        return out

    def participants(self) -> list[tuple[ParticipantInfo, float]]:
        """The live participants with the time (epoch seconds) their registration node was
        created, by group and name."""
        with self._lock:
            return [
                (self._participants[key], self._registered_at.get(key, 0.0))
                for key in sorted(self._participants)
            ]

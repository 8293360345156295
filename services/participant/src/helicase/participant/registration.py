"""Registering the participant in ZooKeeper: its ephemeral node and its task types."""

from __future__ import annotations

import logging
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError

from helicase.common import zkpaths
from helicase.common.registry import ParticipantInfo, encode_task_type

log = logging.getLogger(__name__)


class NameTaken(Exception):
    """Another live participant holds this name."""


def publish_task_types(zk: KazooClient, info: ParticipantInfo) -> None:
    """Writes each task type's definition to /helicase/tasktypes/<type> (if it changed)."""
    for task_type in info.task_types:
        path = zkpaths.task_type(task_type.name)
        data = encode_task_type(task_type)
        zk.ensure_path(zkpaths.TASK_TYPES)
        try:
            zk.create(path, data)
        except NodeExistsError:
            current, _ = zk.get(path)
            if current != data:
                zk.set(path, data)


def register(zk: KazooClient, info: ParticipantInfo, *, wait: float) -> None:
    """Creates /helicase/participants/<group>/<name>. While the node exists (a crashed
    predecessor's session may not have expired yet) retries for `wait` seconds, then raises
    NameTaken."""
    path = zkpaths.participant(info.group, info.name)
    deadline = time.monotonic() + wait
    while True:
        try:
            zk.create(path, info.encode(), ephemeral=True, makepath=True)
            log.info("registered", extra={"path": path})
            return
        except NodeExistsError:
            if time.monotonic() > deadline:
                raise NameTaken(f"participant name {info.name!r} is already live") from None
            time.sleep(0.5)


def keep_registered(zk: KazooClient, info: ParticipantInfo) -> None:
    """Re-creates the ephemeral node after a session expiry (a new session)."""

    def listener(state: str) -> None:
        if state == KazooState.CONNECTED:
            zk.handler.spawn(_recreate)

    def _recreate() -> None:
        path = zkpaths.participant(info.group, info.name)
        try:
            if zk.exists(path) is None:
                zk.create(path, info.encode(), ephemeral=True, makepath=True)
                log.info("re-registered after a new session", extra={"path": path})
        except NodeExistsError:
            pass
        except Exception:
            log.exception("re-registration failed")

    zk.add_listener(listener)

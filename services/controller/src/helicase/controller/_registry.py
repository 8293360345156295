"""Following the participant registry (/helicase/participants/<group>/<name>): a participant
whose registration node vanished (its ZooKeeper session ended) is lost at once — unless its
stream is still up, in which case it is alive and re-registering, and the stream decides."""

from __future__ import annotations

import asyncio
import logging
import time

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch

from helicase.common import zkpaths
from helicase.controller._service import Leadership
from helicase.controller._shell import new_stimulus_id
from helicase.controller._stimuli import ParticipantLost

log = logging.getLogger(__name__)


class RegistryWatch:
    def __init__(
        self, zk: KazooClient, loop: asyncio.AbstractEventLoop, leadership: Leadership
    ) -> None:
        self._zk = zk
        self._loop = loop
        self._leadership = leadership
        self._members: dict[str, set[str]] = {}  # group -> names; touched by kazoo's thread only

    def start(self) -> None:
        self._zk.ensure_path(zkpaths.PARTICIPANTS)
        ChildrenWatch(self._zk, zkpaths.PARTICIPANTS, self._on_groups)

    def _on_groups(self, groups: list[str]) -> None:
        for group in groups:
            if group not in self._members:
                self._members[group] = set()
                ChildrenWatch(
                    self._zk,
                    zkpaths.participant_group(group),
                    lambda names, group=group: self._on_names(group, names),
                )

    def _on_names(self, group: str, names: list[str]) -> None:
        gone = self._members.get(group, set()) - set(names)
        self._members[group] = set(names)
        for name in gone:
            self._loop.call_soon_threadsafe(self._unregistered, name)

    def _unregistered(self, name: str) -> None:
        shell = self._leadership.shell
        if shell is None:
            return
        if shell.connected(name):
            log.warning("participant unregistered but still connected", extra={"participant": name})
            return
        shell.put(
            ParticipantLost(
                stimulus_id=new_stimulus_id(f"unregistered-{name}"),
                now=time.time(),
                name=name,
                reason="unregistered",
            )
        )

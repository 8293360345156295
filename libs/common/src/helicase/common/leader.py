"""Following the controller leader's address (/helicase/controller/leader) from asyncio code."""

from __future__ import annotations

import asyncio
import json
import logging

from kazoo.client import KazooClient
from kazoo.recipe.watchers import DataWatch

from helicase.common import zkpaths

log = logging.getLogger(__name__)


class LeaderWatch:
    """The current leader's address, or "" while there is none; `changed` wakes waiters."""

    def __init__(self, zk: KazooClient, loop: asyncio.AbstractEventLoop) -> None:
        self.addr = ""
        self.epoch = 0
        self._loop = loop
        self._changed = asyncio.Event()
        self._zk = zk

    def start(self) -> None:
        self._zk.ensure_path(zkpaths.CONTROLLER)
        DataWatch(self._zk, zkpaths.LEADER, self._on_data)

    def _on_data(self, data: bytes | None, _stat: object) -> None:
        addr, epoch = "", 0
        if data:
            try:
                raw = json.loads(data)
                addr, epoch = str(raw["addr"]), int(raw["epoch"])
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable leader node")
        self._loop.call_soon_threadsafe(self._set, addr, epoch)

    def _set(self, addr: str, epoch: int) -> None:
        if (addr, epoch) != (self.addr, self.epoch):
            self.addr, self.epoch = addr, epoch
            log.info("controller leader", extra={"leader": addr, "epoch": epoch})
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for_leader(self) -> str:
        while not self.addr:
            await self.wait_changed()
        return self.addr

    def next_change(self) -> asyncio.Event:
        """An event set by the next change of leader after this call."""
        return self._changed

    async def wait_changed(self) -> None:
        await self._changed.wait()

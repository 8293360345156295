"""Winning and losing leadership: kazoo's Election recipe, the epoch bump, the leader node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.recipe.election import Election

from helicase.common import zkpaths

log = logging.getLogger(__name__)


def bump_epoch(zk: KazooClient) -> int:
    """A new leader epoch: the epoch node's version after an unconditional write."""
    zk.ensure_path(zkpaths.EPOCH)
    stat = zk.set(zkpaths.EPOCH, b"")
    return int(stat.version)


def publish_leader(zk: KazooClient, addr: str, epoch: int) -> None:
    data = json.dumps({"addr": addr, "epoch": epoch}).encode()
    with contextlib.suppress(NoNodeError):
        zk.delete(zkpaths.LEADER)  # a predecessor's node whose session has not expired yet
    try:
        zk.create(zkpaths.LEADER, data, ephemeral=True, makepath=True)
    except NodeExistsError:
        zk.set(zkpaths.LEADER, data)


class Campaign:
    """Runs for leadership forever: `lead(epoch)` when elected, `step_down()` when lost."""

    def __init__(
        self,
        zk: KazooClient,
        addr: str,
        loop: asyncio.AbstractEventLoop,
        lead: Callable[[int], Coroutine[Any, Any, None]],
        step_down: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._zk = zk
        self._addr = addr
        self._loop = loop
        self._lead = lead
        self._step_down = step_down
        self._lost = threading.Event()
        self._stopping = threading.Event()
        self._election = Election(zk, zkpaths.ELECTION, identifier=addr)
        self._thread = threading.Thread(target=self._run, name="election", daemon=True)

    def start(self) -> None:
        self._zk.add_listener(self._on_state)
        self._thread.start()

    def resign(self) -> None:
        """Give up leadership (fenced, or shutting down)."""
        self._lost.set()

    def stop(self) -> None:
        self._stopping.set()
        self._lost.set()
        self._election.cancel()

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            log.warning("zookeeper session lost")
            self._lost.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._election.run(self._leading)
            except Exception:
                log.exception("election failed; retrying")
            if not self._stopping.is_set():
                self._stopping.wait(1.0)

    def _leading(self) -> None:
        """Runs in the election thread while this process holds the election lock."""
        self._lost.clear()
        epoch = bump_epoch(self._zk)
        log.info("elected leader", extra={"epoch": epoch})
        started = asyncio.run_coroutine_threadsafe(self._lead(epoch), self._loop)
        try:
            started.result()
            publish_leader(self._zk, self._addr, epoch)
        except Exception:
            log.exception("could not take over; stepping down")
            self._lost.set()
        self._lost.wait()
        asyncio.run_coroutine_threadsafe(self._step_down(), self._loop).result()
        log.info("no longer leader", extra={"epoch": epoch})

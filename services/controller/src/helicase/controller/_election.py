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
from kazoo.exceptions import NodeExistsError
from kazoo.recipe.election import Election

from helicase.common import zkpaths

log = logging.getLogger(__name__)


def bump_epoch(zk: KazooClient) -> int:
    """A new leader epoch: the epoch node's version after an unconditional write."""
    zk.ensure_path(zkpaths.EPOCH)
    stat = zk.set(zkpaths.EPOCH, b"")
    return int(stat.version)


def claim_leader_node(zk: KazooClient, give_up: threading.Event) -> bool:
    """Creates the ephemeral leader node (empty until `publish_leader`). Leadership is owning
    that node: while another live controller's node exists this waits for it to vanish with its
    session; it never deletes a node it does not own. True once claimed, False if `give_up`."""
    while not give_up.is_set():
        try:
            zk.create(zkpaths.LEADER, b"", ephemeral=True, makepath=True)
            return True
        except NodeExistsError:
            gone = threading.Event()
            stat = zk.exists(zkpaths.LEADER, watch=lambda _event, gone=gone: gone.set())
            if stat is not None and stat.ephemeralOwner == zk.client_id[0]:
                return True  # ours, from before a reconnect of the same session
            if stat is not None:
                log.info("waiting for the previous leader's session to end")
                gone.wait(1.0)
    return False


def publish_leader(zk: KazooClient, addr: str, epoch: int) -> None:
    """Writes the address and epoch into our leader node: clients connect from then on."""
    zk.set(zkpaths.LEADER, json.dumps({"addr": addr, "epoch": epoch}).encode())


def release_leader_node(zk: KazooClient) -> None:
    """Deletes the leader node if this session owns it (stepping down while still connected)."""
    with contextlib.suppress(Exception):
        stat = zk.exists(zkpaths.LEADER)
        if stat is not None and stat.ephemeralOwner == zk.client_id[0]:
            zk.delete(zkpaths.LEADER, version=stat.version)


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
        if not claim_leader_node(self._zk, self._lost):
            return
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
        release_leader_node(self._zk)
        log.info("no longer leader", extra={"epoch": epoch})

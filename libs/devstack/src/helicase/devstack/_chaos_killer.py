"""The chaos driver's killing: random victims every few seconds (restarted in the background),
rounds of back-to-back leader kills, and restarts of Kafka, ZooKeeper and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable

from kazoo.client import KazooClient

from helicase.common import zkpaths
from helicase.devstack._chaos_model import INFRA, VICTIMS, ChaosOptions
from helicase.devstack._infra import Infra
from helicase.devstack.testing import RunningSuite


class Killer:
    """Kills and restarts the suite's processes; counts what it did."""

    def __init__(
        self,
        options: ChaosOptions,
        suite: RunningSuite,
        rng: random.Random,
        log: Callable[[str], None],
    ) -> None:
        self.options = options
        self.suite = suite
        self.rng = rng
        self.log = log
        self.kills: Counter[str] = Counter()
        self.restart_failures: Counter[str] = Counter()
        self.infra_restarts: dict[str, float] = {}
        self._killed_sessions: set[int] = set()  # ZooKeeper sessions of controllers killed
        self._restarting: set[str] = set()
        self._zk: KazooClient | None = None
        self._infra: Infra | None = None

    def close(self) -> None:
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()

    def names(self, module: str) -> list[str]:
        return [n for n, s in self.suite.specs.items() if s.module == f"helicase.{module}"]

    def _zk_client(self) -> KazooClient:
        if self._zk is None:
            self._zk = KazooClient(hosts=self.suite.zk)
            self._zk.start(timeout=15)
        return self._zk

    def _controller_at(self, addr: object) -> str | None:
        for name in self.names("controller"):
            if self.suite.listen_addr(name) == addr:
                return name
        return None

    def leader(self) -> str | None:
        """The supervised name of the controller that leads now, or None. A leader node left
        by a leader killed before (its session not expired yet) is waited out (up to 20 s)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                data, stat = self._zk_client().get(zkpaths.LEADER)
                addr = json.loads(data)["addr"]
            except Exception:
                addr, stat = None, None
            if stat is not None and stat.ephemeralOwner not in self._killed_sessions:
                name = self._controller_at(addr)
                if name is not None:
                    self._killed_sessions.add(stat.ephemeralOwner)
                return name
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    def elected(self, timeout: float = 20) -> str | None:
        """The controller that holds the election lock, as soon as it holds it (before it has
        loaded the state and published itself as leader), or None within `timeout`. The lock
        node of a controller killed before is waited out, as its session is."""
        zk = self._zk_client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                children = zk.get_children(zkpaths.ELECTION)
                first = min(children, key=lambda child: child[-10:])  # the lowest sequence
                data, stat = zk.get(f"{zkpaths.ELECTION}/{first}")
            except Exception:
                data, stat = b"", None
            if stat is not None and stat.ephemeralOwner not in self._killed_sessions:
                name = self._controller_at(data.decode())
                if name is not None:
                    self._killed_sessions.add(stat.ephemeralOwner)
                    return name
            time.sleep(0.05)
        return None

    def pick(self, kind: str) -> str | None:
        if kind == "leader":
            return self.leader()
        if kind in ("scheduler", "participant"):
            up = [name for name in self.names(kind) if name not in self._restarting]
            return self.rng.choice(up) if up else None
        return kind

    def kill_and_restart(self, name: str) -> None:
        try:
            self.suite.kill(name, signal.SIGKILL)
            self.kills[name] += 1
            time.sleep(self.options.kill_pause)
            self.ensure_running(name)
        finally:
            self._restarting.discard(name)

    def ensure_running(self, name: str) -> None:
        for _ in range(3):
            try:
                self.suite.start(name)
                return
            except TimeoutError as exc:
                self.restart_failures[name] += 1
                self.log(f"{name} did not come back healthy: {str(exc).splitlines()[0]}")
                self.suite.kill(name, signal.SIGKILL)
                time.sleep(1)
        raise RuntimeError(f"{name} does not start:\n{self.suite.log(name)}")

    def restart_infra(self, part: str) -> None:
        infra = self._infra
        assert infra is not None
        component = {"kafka": infra.kafka, "zookeeper": infra.zookeeper, "postgres": infra.postgres}
        began = time.monotonic()
        component[part].stop()
        time.sleep(self.options.kill_pause)
        component[part].start()
        component[part].wait_ready(120)
        self.infra_restarts[part] = round(time.monotonic() - began, 1)

    async def storm_round(self, spacing: float) -> None:
        """Kills the leader, then its successor `spacing` seconds after it won the election."""
        first = await asyncio.to_thread(self.leader)
        if first is None:
            self.log("storm: no leader to kill right now")
            return
        self.log(f"storm: kill -9 {first} (leader)")
        restart = asyncio.create_task(asyncio.to_thread(self.kill_and_restart, first))
        try:
            second = await asyncio.to_thread(self.elected)
            if second is None:
                self.log("storm: no successor was elected in time")
                return
            self.log(f"storm: {second} holds the election lock")
            await asyncio.sleep(spacing)
            self.log(f"storm: kill -9 {second} (elected {spacing} s before)")
            await asyncio.to_thread(self.kill_and_restart, second)
        finally:
            await restart

    async def run(self, until: float, infra: Infra | None) -> None:
        """Kills (and restarts) until `until` (the event loop's clock): random victims or the
        plan every `kill_interval`, the storm rounds and the infrastructure restarts spread
        over the run (a storm round that a slow election pushed past `until` still runs).
        Returns once every victim is back."""
        self._infra = infra
        loop = asyncio.get_running_loop()
        start = loop.time()
        plan = list(self.options.kill_plan) if self.options.kill_plan is not None else None
        infra_due: list[tuple[float, str]] = []
        if self.options.infra_restarts and infra is not None:
            order = list(INFRA)
            self.rng.shuffle(order)
            span = until - start
            infra_due = [(start + span * (i + 1) / 4, part) for i, part in enumerate(order)]
        rounds = self.options.leader_storm
        storm_due = [start + (until - start) * (i + 0.5) / rounds for i in range(rounds)]
        restarts: set[asyncio.Task[None]] = set()
        try:
            await self._kill_until(until, plan, infra_due, storm_due, restarts)
        finally:
            await asyncio.gather(*restarts)  # a victim that does not come back fails the run

    async def _kill_until(
        self,
        until: float,
        plan: list[str] | None,
        infra_due: list[tuple[float, str]],
        storm_due: list[float],
        restarts: set[asyncio.Task[None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        rounds = self.options.leader_storm
        spacings = self.options.storm_spacings
        while loop.time() < until or storm_due:  # every storm round runs, if need be late
            await asyncio.sleep(self.options.kill_interval)
            if storm_due and loop.time() >= storm_due[0]:
                storm_due.pop(0)
                await asyncio.gather(*restarts)  # a storm starts from a whole suite
                await self.storm_round(spacings[(rounds - len(storm_due) - 1) % len(spacings)])
                continue
            if loop.time() >= until:
                break
            if infra_due and loop.time() >= infra_due[0][0]:
                await asyncio.gather(*restarts)
                _, part = infra_due.pop(0)
                self.log(f"restarting {part}")
                await asyncio.to_thread(self.restart_infra, part)
                self.log(f"{part} back after {self.infra_restarts[part]} s")
                continue
            if plan is not None:
                if not plan:
                    continue
                kind = plan.pop(0)
            else:
                kind = self.rng.choice(VICTIMS)
            name = await asyncio.to_thread(self.pick, kind)
            if name is None or name in self._restarting:
                self.log(f"no {kind} to kill right now")
                if plan is not None:
                    plan.insert(0, kind)
                continue
            self.log(f"kill -9 {name} ({kind})")
            # Restarted in the background: the next kill comes `kill_interval` after this one,
            # however long a loaded machine takes to bring the victim back.
            self._restarting.add(name)
            restart = asyncio.create_task(asyncio.to_thread(self.kill_and_restart, name))
            restarts.add(restart)
            restart.add_done_callback(restarts.discard)

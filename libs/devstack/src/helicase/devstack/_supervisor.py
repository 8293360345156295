"""A supervisor for the Helicase services: detached `python -m <module>` processes, each healthy
when its gRPC health service answers SERVING."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helicase.common.config import TLS_CERT
from helicase.devstack import _proc, pki

HEALTH_ADDR_VARIABLE = "HELICASE_DEVSTACK_HEALTH_ADDR"
"""Set for every supervised process: the address it is checked on (the fake service binds it)."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service: `python -m <module>` with `env` on top of the suite's; healthy when the
    gRPC health service on `health_addr` says SERVING for the server as a whole."""

    name: str
    module: str
    env: Mapping[str, str]
    health_addr: str


def check_health(addr: str, timeout: float = 1.0) -> bool:
    """True when grpc.health.v1.Health/Check(service="") at `addr` answers SERVING."""
    try:
        with grpc.insecure_channel(addr) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


class Supervisor:
    """Starts, checks, signals and stops service processes. Pid files go to <home>/run, output
    to <home>/logs/<name>.log; each Helicase service gets its certificate from the CA in
    <home>/pki (made there when missing) unless its environment names one already. Processes
    are detached: they outlive this object, and another Supervisor on the same home finds them
    through the pid files."""

    def __init__(
        self, home: Path, specs: Iterable[ServiceSpec], env: Mapping[str, str] | None = None
    ) -> None:
        self.home = home
        self.specs: dict[str, ServiceSpec] = {spec.name: spec for spec in specs}
        self.env: dict[str, str] = dict(env or {})

    @property
    def pki(self) -> Path:
        """The directory of the suite's CA and certificates."""
        return self.home / "pki"

    def pidfile(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The pid of service `name` if it runs, else None."""
        return _proc.read_pid(self.pidfile(name))

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def healthy(self, name: str) -> bool:
        return self.running(name) and check_health(self.specs[name].health_addr)

    def start(self, name: str) -> bool:
        """Starts service `name` unless it runs already; returns whether it started it."""
        if self.running(name):
            return False
        spec = self.specs[name]
        env = {
            **os.environ,
            **self.env,
            **spec.env,
            HEALTH_ADDR_VARIABLE: spec.health_addr,
            "PYTHONUNBUFFERED": "1",
        }
        identity = pki.identity_of_service(spec.module, name, env)
        if identity is not None and not env.get(TLS_CERT.name):
            env.update(pki.tls_env(pki.issue(self.pki, identity)))
        argv = [sys.executable, "-m", spec.module]
        _proc.spawn(argv, home=self.home, log=self.log(name), pidfile=self.pidfile(name), env=env)
        return True

    def start_all(self, names: Iterable[str] | None = None) -> list[str]:
        """Starts those of `names` (default: all) that do not run; returns the ones started."""
        return [name for name in self._names(names) if self.start(name)]

    def wait_healthy(self, names: Iterable[str] | None = None, timeout: float = 120.0) -> None:
        """Waits until every service of `names` (default: all) is SERVING. Raises TimeoutError
        with the end of the service's log when one exits or stays unhealthy past `timeout`."""
        for name in self._names(names):
            addr = self.specs[name].health_addr

            def check(name: str = name, addr: str = addr) -> bool:
                if not self.running(name):
                    raise _proc.ProcessExited(f"{name} exited")
                return check_health(addr)

            try:
                _proc.wait_for(check, timeout=timeout, what=f"{name} on {addr}", interval=0.2)
            except (TimeoutError, _proc.ProcessExited) as exc:
                log = self.log(name)
                raise TimeoutError(f"{exc}\n--- {log} ---\n{_proc.tail(log)}") from exc

    def stop(self, name: str, grace: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after `grace` s; returns whether it was running."""
        return _proc.stop_pidfile(self.pidfile(name), grace=grace)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Sends `sig` to the service's process group (SIGKILL, the default, is a crash;
        SIGSTOP/SIGCONT freeze and thaw it)."""
        pid = self.pid(name)
        if pid is not None:
            _proc.signal_group(pid, sig)
            if sig == signal.SIGKILL:
                _proc.stop(pid, grace=0)  # returns once it is really gone

    def restart(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Stops `name` (if it runs) and starts it again; waits until healthy unless told not."""
        self.stop(name)
        self.start(name)
        if wait:
            self.wait_healthy([name], timeout=timeout)

    def stop_all(self) -> None:
        """Stops every service: workers first, the controllers, the api last."""

        def rank(name: str) -> int:
            module = self.specs[name].module
            return 2 if module.endswith(".api") else 1 if module.endswith(".controller") else 0

        tiers: dict[int, list[str]] = {}
        for name in self.specs:
            tiers.setdefault(rank(name), []).append(name)
        for _, names in sorted(tiers.items()):
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                list(pool.map(self.stop, names))

    def _names(self, names: Iterable[str] | None) -> list[str]:
        chosen = list(self.specs) if names is None else list(names)
        unknown = [name for name in chosen if name not in self.specs]
        if unknown:
            raise KeyError(f"unknown services {unknown}; known: {list(self.specs)}")
        return chosen

"""The Helicase services as supervised processes, and the local suite's layout."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helicase.devstack import _proc


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """One service process: `python -m <module>` with `env`, healthy when `health_addr` says so."""

    name: str
    module: str
    health_addr: str
    env: Mapping[str, str] = field(default_factory=dict)


def healthy(addr: str, timeout: float = 1.0) -> bool:
    """True when the gRPC health service at `addr` answers SERVING for the server as a whole."""
    try:
        with grpc.insecure_channel(addr) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


class Suite:
    """Starts, watches and stops service processes; pid files and logs under `home`."""

    def __init__(self, home: Path, specs: Iterable[ServiceSpec], base_env: Mapping[str, str]):
        self.home = home
        self.specs = {s.name: s for s in specs}
        self.base_env = dict(base_env)

    def pidfile(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def pid(self, name: str) -> int | None:
        pid = _proc.read_pid(self.pidfile(name))
        return pid if pid is not None and _proc.alive(pid) else None

    def start(self, name: str) -> bool:
        """Starts `name` unless it already runs; returns whether it was started."""
        if self.pid(name) is not None:
            return False
        spec = self.specs[name]
        env = {**self.base_env, **spec.env}
        _proc.spawn(
            [sys.executable, "-m", spec.module],
            log=self.log(name),
            pidfile=self.pidfile(name),
            env=env,
        )
        return True

    def start_all(self) -> list[str]:
        return [name for name in self.specs if self.start(name)]

    def wait_healthy(self, names: Iterable[str] | None = None, timeout: float = 120) -> None:
        for name in list(names) if names is not None else list(self.specs):
            spec = self.specs[name]

            def check(name: str = name, addr: str = spec.health_addr) -> bool:
                if self.pid(name) is None:
                    raise RuntimeError(f"{name} exited")
                return healthy(addr)

            try:
                _proc.wait_for(check, timeout=timeout, what=f"{name} on {spec.health_addr}")
            except TimeoutError as exc:
                raise TimeoutError(
                    f"{exc}\n--- {self.log(name)} ---\n{_proc.tail(self.log(name))}"
                ) from exc

    def stop(self, name: str, grace: float = 10.0) -> None:
        _proc.stop_pidfile(self.pidfile(name), grace=grace)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Sends `sig` to the service's process group (SIGKILL by default: a crash)."""
        pid = _proc.read_pid(self.pidfile(name))
        if pid is not None:
            _proc.signal_group(pid, sig)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def stop_all(self) -> None:
        # Participants and schedulers first, so nothing works against a stopped api.
        order = sorted(self.specs, key=lambda n: (n == "api", n.startswith("controller")))
        for name in order:
            self.stop(name)


def local_services(
    *,
    api_port: int = 50051,
    controller_ports: tuple[int, ...] = (50052, 50062),
    scheduler_port: int = 50053,
    sink_port: int = 50054,
    participant_ports: tuple[int, ...] = (50055, 50056),
    participant_prefix: str | None = None,
) -> list[ServiceSpec]:
    """The local suite: api, controllers (leader + standby), scheduler, sink, participants."""
    host = participant_prefix or socket.gethostname()
    loop = "127.0.0.1"
    specs = [
        ServiceSpec(
            name="api",
            module="helicase.api",
            health_addr=f"{loop}:{api_port}",
            env={"HELICASE_API_ADDR": f"{loop}:{api_port}"},
        )
    ]
    for index, port in enumerate(controller_ports):
        specs.append(
            ServiceSpec(
                name=f"controller-{'abcdefgh'[index]}",
                module="helicase.controller",
                health_addr=f"{loop}:{port}",
                env={"HELICASE_CONTROLLER_ADDR": f"{loop}:{port}"},
            )
        )
    specs.append(
        ServiceSpec(
            name="scheduler",
            module="helicase.scheduler",
            health_addr=f"{loop}:{scheduler_port}",
            env={
                "HELICASE_SCHEDULER_ADDR": f"{loop}:{scheduler_port}",
                "HELICASE_SCHEDULER_ID": "scheduler-0",
            },
        )
    )
    specs.append(
        ServiceSpec(
            name="sink",
            module="helicase.sink",
            health_addr=f"{loop}:{sink_port}",
            env={"HELICASE_SINK_ADDR": f"{loop}:{sink_port}"},
        )
    )
    for index, port in enumerate(participant_ports, start=1):
        specs.append(
            ServiceSpec(
                name=f"participant-{index}",
                module="helicase.participant",
                health_addr=f"{loop}:{port}",
                env={
                    "HELICASE_PARTICIPANT_ADDR": f"{loop}:{port}",
                    "HELICASE_PARTICIPANT_NAME": f"{host}-{index}",
                    "HELICASE_PARTICIPANT_GROUP": "default",
                },
            )
        )
    return specs

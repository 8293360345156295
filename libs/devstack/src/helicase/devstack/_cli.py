"""`python -m helicase.devstack up|down|status` (also `helicase-devstack`): the local suite on
its default ports, state in .helicase/ of the checkout (or $HELICASE_HOME).

The addresses can be moved with HELICASE_ZK, HELICASE_KAFKA, HELICASE_DATABASE_URL,
HELICASE_API_ADDR and HELICASE_WEB_ADDR (only the port is taken from each; a chroot suffix of
HELICASE_ZK is created); HELICASE_TOPIC_PREFIX is passed on to the services.

The HPC part (helicase.devstack._local_hpc): a loopback sshd + one-node SLURM under .helicase/hpc
(when root and the packages are there; skipped with a line otherwise), a participant serving the
airavata.* types. The secrets (HELICASE_CREDENTIAL_KEY, HELICASE_ADMIN_TOKEN, and HELICASE_TOKEN,
the `demo` tenant's admin key issued by the api) are in .helicase/secrets.env; the certificates of
the internal plane are made under .helicase/pki (helicase.devstack.pki) by the supervisor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from kazoo.client import KazooClient

from helicase.devstack import _paths, _proc
from helicase.devstack._component import Component
from helicase.devstack._infra import Infra, InfraPorts
from helicase.devstack._layout import ServicePorts, service_specs, suite_env
from helicase.devstack._local_hpc import HpcPorts, LocalHpc, with_hpc
from helicase.devstack._secrets_env import SECRETS_FILE
from helicase.devstack._supervisor import Supervisor
from helicase.devstack._tokens import ensure_demo_token

HEALTH_TIMEOUT = 120.0


def _port(value: str | None, default: int) -> int:
    """The port of "host:port[/path]" or of a URL; `default` when unset."""
    if not value:
        return default
    parsed = urlsplit(value if "//" in value else f"//{value}")
    return parsed.port or default


@dataclass
class LocalSuite:
    """The local suite as `make up` runs it."""

    home: Path
    infra: Infra
    supervisor: Supervisor
    zk_chroot: str
    hpc: LocalHpc

    @classmethod
    def build(cls, home: Path, environ: Mapping[str, str] = os.environ) -> LocalSuite:
        zk_env = environ.get("HELICASE_ZK", "")
        kafka_port = _port(environ.get("HELICASE_KAFKA"), 9092)
        infra_ports = InfraPorts(
            zookeeper=_port(zk_env.split("/", 1)[0], 2181),
            kafka=kafka_port,
            kafka_controller=kafka_port + 1,
            postgres=_port(environ.get("HELICASE_DATABASE_URL"), 5432),
        )
        service_ports = ServicePorts(
            api=_port(environ.get("HELICASE_API_ADDR"), 50051),
            web=_port(environ.get("HELICASE_WEB_ADDR"), 8080),
        )
        infra = Infra(home, infra_ports)
        chroot = "/" + zk_env.split("/", 1)[1].strip("/") if "/" in zk_env else ""
        env = suite_env(
            zk=infra.zookeeper.connect + (chroot if chroot != "/" else ""),
            kafka=infra.kafka.bootstrap,
            database_url=environ.get("HELICASE_DATABASE_URL") or infra.postgres.url(),
            api_addr=f"{_proc.LOOPBACK}:{service_ports.api}",
            api_internal_addr=f"{_proc.LOOPBACK}:{service_ports.api_internal}",
            topic_prefix=environ.get("HELICASE_TOPIC_PREFIX", ""),
        )
        # Purged workflows are archived under the suite's home unless told otherwise.
        env["HELICASE_RETENTION_ARCHIVE_DIR"] = environ.get(
            "HELICASE_RETENTION_ARCHIVE_DIR"
        ) or str(home / "archive")
        hpc_ports = HpcPorts()
        specs = with_hpc(service_specs(service_ports), home, hpc_ports)
        supervisor = Supervisor(home, specs, env)
        return cls(
            home=home,
            infra=infra,
            supervisor=supervisor,
            zk_chroot=chroot.rstrip("/"),
            hpc=LocalHpc(home, hpc_ports),
        )


def _busy(ports: list[int]) -> list[int]:
    return [port for port in ports if _proc.port_in_use(port)]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    print("(`make status` shows what runs; `make down` stops it)", file=sys.stderr)
    return 1


def up(suite: LocalSuite) -> int:
    began = time.monotonic()
    started: list[str] = []
    infra = suite.infra
    ports_of: dict[str, list[int]] = {
        "postgres": [infra.postgres.port],
        "zookeeper": [infra.zookeeper.port],
        "kafka": [infra.kafka.port, infra.kafka.controller_port],
    }
    parts: list[Component] = list(infra.components)
    for part in parts:
        if part.running():
            continue
        busy = _busy(ports_of[part.name])
        if busy:
            return _fail(f"{part.name} cannot start: port {busy} is taken by another process")
        print(f"starting {part.name} on {part.address}", flush=True)
        part.start()
        started.append(part.name)
    try:
        for part in parts:
            part.wait_ready(HEALTH_TIMEOUT)
    except TimeoutError as exc:
        return _fail(str(exc))
    if suite.zk_chroot:
        zk = KazooClient(hosts=infra.zookeeper.connect)
        zk.start(timeout=15)
        try:
            zk.ensure_path(suite.zk_chroot)
        finally:
            zk.stop()
            zk.close()

    supervisor = suite.supervisor
    for name, spec in supervisor.specs.items():
        if supervisor.running(name):
            continue
        busy = _busy([_port(spec.health_addr, 0)])
        if busy:
            return _fail(f"{name} cannot start: port {busy} is taken by another process")
        print(f"starting {name} on {spec.health_addr}", flush=True)
        supervisor.start(name)
        started.append(name)
    try:
        supervisor.wait_healthy(timeout=HEALTH_TIMEOUT)
    except TimeoutError as exc:
        return _fail(str(exc))
    try:
        ensure_demo_token(suite.home, supervisor.specs["api"].health_addr)
    except grpc.RpcError as exc:
        return _fail(
            f"the api refused to issue the demo tenant's key: {exc.code()} {exc.details()}"
        )
    print(
        f"HELICASE_TOKEN (admin of tenant `demo`) and HELICASE_ADMIN_TOKEN (platform admin) are in"
        f" {suite.home / SECRETS_FILE}",
        flush=True,
    )
    try:
        if _up_hpc(suite.hpc):
            started.append("hpc cluster")
    except (TimeoutError, RuntimeError, OSError) as exc:
        return _fail(f"the loopback HPC cluster did not start: {exc}")

    if started:
        print(f"started {', '.join(started)} in {time.monotonic() - began:.1f}s; all healthy")
    else:
        print("everything was already running and healthy; started nothing")
    return status(suite)


def _up_hpc(hpc: LocalHpc) -> bool:
    """Starts the loopback cluster unless it runs; False when it ran or cannot run here."""
    problem = hpc.unavailable()
    if problem is not None:
        print(f"skipping the loopback HPC cluster (sshd + SLURM): {problem}", flush=True)
        return False
    if hpc.running():
        return False
    busy = [] if any(pid for _, pid in hpc.cluster.daemons()) else hpc.busy_ports()
    if busy:
        print(f"skipping the loopback HPC cluster: port {busy} is taken by another process")
        return False
    print(
        f"starting the loopback HPC cluster (sshd on {hpc.cluster.host}:{hpc.ports.ssh},"
        f" munged, slurmctld, slurmd) under {hpc.home}",
        flush=True,
    )
    hpc.start(timeout=HEALTH_TIMEOUT)
    return True


def down(suite: LocalSuite) -> int:
    suite.hpc.stop()
    suite.supervisor.stop_all()
    suite.infra.stop()
    # Anything of ours a pid file lost track of (a crashed `up`, a deleted run/ directory).
    strays = _proc.processes_of(suite.home)
    for pid in strays:
        print(f"stopping stray process {pid}: {_cmdline(pid)}")
        _proc.stop(pid, grace=5)
    for pidfile in (suite.home / "run").glob("*.pid"):
        pidfile.unlink(missing_ok=True)
    left = _proc.processes_of(suite.home)
    if left:
        return _fail(f"processes still running: {left}")
    print(f"stopped the local suite; no process of {suite.home} is left")
    return 0


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def status(suite: LocalSuite) -> int:
    rows: list[tuple[str, str, str, str]] = []
    for part in suite.infra.components:
        pid = part.pid
        healthy = pid is not None and part.ready()
        rows.append((part.name, str(pid or "-"), part.address, "yes" if healthy else "no"))
    supervisor = suite.supervisor
    for name, spec in supervisor.specs.items():
        pid = supervisor.pid(name)
        healthy = pid is not None and supervisor.healthy(name)
        rows.append((name, str(pid or "-"), spec.health_addr, "yes" if healthy else "no"))
    hpc_problem = suite.hpc.unavailable()
    if hpc_problem is None:
        rows += suite.hpc.rows()
    print(f"{'component':15} {'pid':>8}  {'address':21} healthy")
    for component, pid_text, address, healthy_text in rows:
        print(f"{component:15} {pid_text:>8}  {address:21} {healthy_text}")
    if hpc_problem is not None:
        print(f"loopback HPC cluster: not started ({hpc_problem})")
    print(f"state and logs: {suite.home}")
    api = supervisor.specs.get("api")
    web_addr = api.env.get("HELICASE_WEB_ADDR") if api is not None else None
    if web_addr:
        print(f"composer: http://{web_addr}/")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="helicase-devstack", description="Start, stop or show the local Helicase suite."
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    home = _paths.home()
    home.mkdir(parents=True, exist_ok=True)
    suite = LocalSuite.build(home)
    commands = {"up": up, "down": down, "status": status}
    sys.exit(commands[args.command](suite))

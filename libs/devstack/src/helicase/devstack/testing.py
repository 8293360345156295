"""Building blocks of the test harness (tests/conftest.py): fresh homes, and isolated Helicase
suites on a shared infrastructure, each in its own namespace (ZooKeeper chroot, topic prefix,
database) with its services on free ports."""

from __future__ import annotations

import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from kazoo.client import KazooClient

from helicase.common.tls import Identity, TlsFiles
from helicase.devstack import _secrets_env, _tokens, pki
from helicase.devstack._hpc import LoopbackCluster, hpc_available
from helicase.devstack._infra import Infra
from helicase.devstack._layout import (
    SERVICE_NAMES,
    ServicePorts,
    participant_spec,
    service_specs,
    suite_env,
)
from helicase.devstack._proc import free_port, processes_of, stop, tail
from helicase.devstack._supervisor import ServiceSpec, Supervisor
from helicase.devstack._tokens import issue_key

FAKE_SERVICE = "helicase.devstack._fake_service"
"""A module serving only gRPC health: stands in for any service in tests of the harness."""


@contextmanager
def chrooted_zk(connect: str, prefix: str = "/test") -> Iterator[KazooClient]:
    """A started ZooKeeper client in a fresh chroot (`<prefix>-<random>`), so runs never see
    each other's nodes; stopped and closed afterwards."""
    chroot = f"{prefix}-{uuid.uuid4().hex[:8]}"
    setup = KazooClient(hosts=connect)
    setup.start(timeout=30)
    setup.ensure_path(chroot)
    setup.stop()
    setup.close()
    client = KazooClient(hosts=f"{connect}{chroot}")
    client.start(timeout=30)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def new_home(prefix: str) -> Path:
    """A fresh directory under /tmp that the postgres account can traverse (pytest's own tmp
    dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def remove_home(home: Path, *, keep: bool = False) -> None:
    """Kills whatever of `home` still runs, then deletes it (unless `keep`)."""
    for pid in processes_of(home):
        stop(pid, grace=2)
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class RunningSuite:
    """A running Helicase suite in its own namespace."""

    namespace: str
    supervisor: Supervisor
    env: dict[str, str]
    addresses: dict[str, str]
    zk: str
    topic_prefix: str
    database_url: str
    participant_names: list[str]
    max_tasks: int
    specs: dict[str, ServiceSpec] = field(default_factory=dict)
    admin_token: str = field(default="", repr=False)
    """The platform admin's token (HELICASE_ADMIN_TOKEN of the api)."""
    _token: str = field(default="", repr=False)

    @property
    def api_addr(self) -> str:
        return self.addresses["api"]

    @property
    def token(self) -> str:
        """An admin key of tenant `demo` (the suite's HELICASE_TOKEN), issued on first use."""
        if not self._token:
            self._token = self.issue_key(_tokens.DEMO_TENANT, "admin")
        return self._token

    def issue_key(self, tenant: str, role: str = "admin", *, display_name: str = "") -> str:
        """The token of a new API key of `tenant` (created if missing) with `role` ("viewer",
        "submitter" or "admin"), issued with the platform admin's token."""
        return _tokens.issue_key(
            self.api_addr, self.admin_token, tenant, role, display_name=display_name
        )

    @property
    def api_internal_addr(self) -> str:
        """The api's internal listener (mutual TLS)."""
        return self.env["HELICASE_API_INTERNAL_ADDR"]

    def listen_addr(self, name: str) -> str:
        """Where service `name` serves its internal services: a controller's mutual-TLS address
        (its `addresses` entry is its plaintext health port); others' health address."""
        return self.specs[name].env.get("HELICASE_CONTROLLER_ADDR") or self.addresses[name]

    def certificate(self, kind: str, name: str, group: str = "") -> TlsFiles:
        """A certificate of the suite's CA for component `kind` named `name` (a participant's
        with its `group`), made on demand: a test acting as that component uses it."""
        return pki.issue(self.supervisor.pki, Identity(kind, name, group))

    @contextmanager
    def extra_participant(
        self, group: str, extra_env: Mapping[str, str] | None = None
    ) -> Iterator[ServiceSpec]:
        """One more participant, in `group`, set up like the suite's own plus `extra_env`:
        serving while the block runs, stopped (and forgotten) when it ends."""
        index = 1 + sum(name.startswith("participant-") for name in self.specs)
        env = {"HELICASE_PARTICIPANT_GROUP": group, **(extra_env or {})}
        spec = participant_spec(index, free_port(), self.namespace, env)
        self.supervisor.specs[spec.name] = spec
        self.specs[spec.name] = spec
        try:
            self.start(spec.name)
            yield spec
        finally:
            self.supervisor.stop(spec.name)
            del self.supervisor.specs[spec.name], self.specs[spec.name]

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Sends `sig` to service `name` (SIGKILL, the default: a crash)."""
        self.supervisor.kill(name, sig)

    def start(self, name: str, *, wait: bool = True) -> None:
        """Starts service `name` (again, after `kill` or `stop`)."""
        self.supervisor.start(name)
        if wait:
            self.supervisor.wait_healthy([name], timeout=60)

    def restart(
        self, name: str, *, wait: bool = True, env: Mapping[str, str] | None = None
    ) -> None:
        """Restarts service `name`, with `env` over its environment from now on if given (a
        new setting, as an operator would deploy it)."""
        if env is not None:
            spec = replace(self.specs[name], env={**self.specs[name].env, **env})
            self.supervisor.specs[name] = self.specs[name] = spec
        self.supervisor.restart(name, wait=wait)

    def stop(self, name: str | None = None) -> None:
        """Stops service `name` gracefully, or every service."""
        if name is None:
            self.supervisor.stop_all()
        else:
            self.supervisor.stop(name)

    def log(self, name: str, lines: int = 40) -> str:
        """The end of service `name`'s log (for assertion messages)."""
        return tail(self.supervisor.log(name), lines)


def namespace_env(infra: Infra, namespace: str, api: ServiceSpec) -> dict[str, str]:
    """Makes `namespace`'s ZooKeeper chroot and database on `infra` and returns the environment
    of a suite in it (short ZooKeeper sessions, so that failovers are quick)."""
    zk = KazooClient(hosts=infra.zookeeper.connect)
    zk.start(timeout=30)
    try:
        zk.ensure_path(f"/{namespace}")  # the chroot must exist before clients use it
    finally:
        zk.stop()
        zk.close()
    return {
        **suite_env(
            zk=f"{infra.zookeeper.connect}/{namespace}",
            kafka=infra.kafka.bootstrap,
            database_url=infra.postgres.create_database(namespace),
            api_addr=api.env["HELICASE_API_ADDR"],
            api_internal_addr=api.env["HELICASE_API_INTERNAL_ADDR"],
            topic_prefix=f"{namespace}.",
        ),
        "HELICASE_ZK_SESSION_TIMEOUT": "4s",
    }


class SuiteFactory:
    """Makes isolated suites on `infra`; `close()` stops them all and removes their homes."""

    def __init__(self, infra: Infra, *, keep_homes: bool = False) -> None:
        self.infra = infra
        self.keep_homes = keep_homes
        self._made: list[tuple[RunningSuite, Path]] = []

    def __call__(
        self,
        services: Sequence[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        *,
        max_tasks: int = 2000,
        modules: Mapping[str, str] | None = None,
        timeout: float = 90.0,
    ) -> RunningSuite:
        """Starts `services` (default: all of SERVICE_NAMES) in a new namespace and waits until
        they are healthy. `modules` replaces the module of some services, e.g. by FAKE_SERVICE;
        the others can still be started later with `RunningSuite.start`."""
        namespace = f"t{uuid.uuid4().hex[:10]}"
        home = new_home(f"helicase-suite-{namespace}-")
        replaced = modules or {}
        specs = {
            spec.name: ServiceSpec(
                spec.name, replaced.get(spec.name, spec.module), spec.env, spec.health_addr
            )
            for spec in service_specs(ServicePorts.free(), participant_prefix=namespace)
        }
        env = {
            **namespace_env(self.infra, namespace, specs["api"]),
            "HELICASE_MAX_TASKS": str(max_tasks),
            # Purged workflows are archived in the suite's home (removed with it).
            "HELICASE_RETENTION_ARCHIVE_DIR": str(home / "archive"),
            **(extra_env or {}),
        }
        # Each suite has its own admin token (one the test sets is kept), given to the api only;
        # the other services identify themselves by their certificates.
        shared = _secrets_env.suite_tokens(env)
        specs = {spec.name: spec for spec in _secrets_env.give(list(specs.values()), shared)}
        supervisor = Supervisor(home, specs.values(), env)
        running = RunningSuite(
            namespace=namespace,
            supervisor=supervisor,
            env=env,
            addresses={name: spec.health_addr for name, spec in specs.items()},
            zk=env["HELICASE_ZK"],
            topic_prefix=env["HELICASE_TOPIC_PREFIX"],
            database_url=env["HELICASE_DATABASE_URL"],
            participant_names=[f"{namespace}-1", f"{namespace}-2"],
            max_tasks=max_tasks,
            specs=specs,
            admin_token=shared[_secrets_env.ADMIN_TOKEN],
        )
        self._made.append((running, home))
        chosen = list(SERVICE_NAMES) if services is None else list(services)
        supervisor.start_all(chosen)
        supervisor.wait_healthy(chosen, timeout=timeout)
        return running

    def close(self) -> None:
        while self._made:
            running, home = self._made.pop()
            try:
                running.supervisor.stop_all()
            finally:
                remove_home(home, keep=self.keep_homes)


def start_loopback_cluster(
    home: Path, *, cluster: LoopbackCluster | None = None, timeout: float = 90.0
) -> LoopbackCluster:
    """Starts sshd and a one-node SLURM on loopback under `home` (see helicase.devstack._hpc)
    and returns it once a batch job has run; raises RuntimeError naming what is missing when the
    machine cannot run them. Pass `cluster` to have a handle to stop before it is started."""
    problem = hpc_available()
    if problem is not None:
        raise RuntimeError(problem)
    cluster = cluster or LoopbackCluster(home)
    cluster.start(timeout=timeout)
    return cluster


__all__ = [
    "FAKE_SERVICE",
    "LoopbackCluster",
    "RunningSuite",
    "SuiteFactory",
    "issue_key",
    "new_home",
    "remove_home",
    "start_loopback_cluster",
]

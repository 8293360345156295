"""The test harness: real ZooKeeper, Kafka and PostgreSQL on free loopback ports, started once per
run, and isolated Helicase suites (ZooKeeper chroot, topic prefix, database) on top of them.
Everything a test starts is stopped, even on failure."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from helicase.devstack import Infra, ServiceSpec, Suite, free_port, local_services


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # "No tests ran" must never pass silently (pytest exits 5 then; make it plain).
    if session.testscollected == 0 and exitstatus == 0:
        session.exitstatus = 5


def _loopback_home(prefix: str) -> Path:
    """A directory the postgres user can traverse (pytest's own tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    home = _loopback_home("helicase-test-")
    stack = Infra.on_ports(
        home, zk=free_port(), kafka=free_port(), kafka_controller=free_port(), pg=free_port(),
        durable=False,
    )  # fmt: skip
    atexit.register(stack.stop)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if os.environ.get("HELICASE_KEEP_TEST_HOME") != "1":
            shutil.rmtree(home, ignore_errors=True)


@dataclass
class RunningSuite:
    """A running, isolated Helicase suite."""

    suite: Suite
    env: dict[str, str]
    api_addr: str
    database_url: str
    zk: str
    topic_prefix: str
    participant_names: list[str]
    max_tasks: int
    specs: dict[str, ServiceSpec] = field(default_factory=dict)

    def kill(self, name: str) -> None:
        self.suite.kill(name)

    def restart(self, name: str) -> None:
        self.suite.restart(name)
        self.suite.wait_healthy([name])

    def stop(self) -> None:
        self.suite.stop_all()


@pytest.fixture(scope="session")
def make_suite(infra: Infra) -> Iterator[Callable[..., RunningSuite]]:
    started: list[RunningSuite] = []

    def make(extra_env: dict[str, str] | None = None, max_tasks: int = 2000) -> RunningSuite:
        namespace = f"t{uuid.uuid4().hex[:10]}"
        home = _loopback_home(f"helicase-suite-{namespace}-")
        zk = KazooClient(hosts=infra.zookeeper.connect)
        zk.start(timeout=30)
        zk.ensure_path(f"/{namespace}")
        zk.stop()
        zk.close()
        database_url = infra.postgres.create_database(namespace)
        api_port = free_port()
        specs = local_services(
            api_port=api_port,
            controller_ports=(free_port(), free_port()),
            scheduler_port=free_port(),
            sink_port=free_port(),
            participant_ports=(free_port(), free_port()),
            participant_prefix=namespace,
        )
        env = {
            **os.environ,
            "HELICASE_ZK": f"{infra.zookeeper.connect}/{namespace}",
            "HELICASE_KAFKA": infra.kafka.bootstrap,
            "HELICASE_DATABASE_URL": database_url,
            "HELICASE_API_ADDR": f"127.0.0.1:{api_port}",
            "HELICASE_TOPIC_PREFIX": f"{namespace}.",
            "HELICASE_MAX_TASKS": str(max_tasks),
            "HELICASE_ZK_SESSION_TIMEOUT": "4s",
            **(extra_env or {}),
        }
        suite = Suite(home, specs, env)
        running = RunningSuite(
            suite=suite,
            env=env,
            api_addr=f"127.0.0.1:{api_port}",
            database_url=database_url,
            zk=env["HELICASE_ZK"],
            topic_prefix=env["HELICASE_TOPIC_PREFIX"],
            participant_names=[f"{namespace}-1", f"{namespace}-2"],
            max_tasks=max_tasks,
            specs={s.name: s for s in specs},
        )
        started.append(running)
        suite.start_all()
        suite.wait_healthy(timeout=90)
        return running

    try:
        yield make
    finally:
        for running in started:
            running.stop()


@pytest.fixture(scope="session")
def suite(make_suite: Callable[..., RunningSuite]) -> RunningSuite:
    """One shared suite for the tests that do not kill anything."""
    return make_suite()

"""The local infrastructure is real and leaves nothing behind: ZooKeeper, Kafka and PostgreSQL
answer on loopback, stopping them ends every process, and the service supervisor starts, checks,
kills and restarts services (here the fake health server, the real services being elsewhere)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from kazoo.client import KazooClient

from helicase.devstack import (
    Infra,
    InfraPorts,
    ServiceSpec,
    Supervisor,
    ZooKeeper,
    check_health,
    free_port,
    processes_of,
)
from helicase.devstack._proc import port_in_use
from helicase.devstack.testing import FAKE_SERVICE, SuiteFactory


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="helicase-devstack-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for pid in processes_of(path):  # only if a test failed half-way
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


def test_zookeeper_answers_ruok_and_serves_a_session(infra: Infra) -> None:
    assert infra.zookeeper.four_letter("ruok") == "imok"
    assert "Zookeeper version" in infra.zookeeper.four_letter("srvr")
    for telling in ("dump", "cons", "envi", "wchp", "mntr", "conf", "stat"):  # sessions, paths
        assert "not in the whitelist" in infra.zookeeper.four_letter(telling), telling
    zk = KazooClient(hosts=infra.zookeeper.connect, timeout=4)
    zk.start(timeout=10)
    try:
        path = f"/devstack-check/{uuid.uuid4().hex}"
        zk.create(path, b"x", makepath=True, ephemeral=True)
        assert zk.get(path)[0] == b"x"
    finally:
        zk.stop()
        zk.close()


def test_kafka_answers_and_never_creates_topics_implicitly(infra: Infra) -> None:
    admin = AdminClient({"bootstrap.servers": infra.kafka.bootstrap})
    metadata = admin.list_topics(timeout=10)
    assert [b.port for b in metadata.brokers.values()] == [infra.kafka.port]
    missing = f"devstack-missing-{uuid.uuid4().hex}"
    assert admin.list_topics(topic=missing, timeout=10).topics[missing].error is not None
    assert missing not in admin.list_topics(timeout=10).topics
    created = f"devstack-created-{uuid.uuid4().hex}"
    admin.create_topics([NewTopic(created, num_partitions=2, replication_factor=1)])[
        created
    ].result(timeout=30)
    assert len(admin.list_topics(timeout=10).topics[created].partitions) == 2
    with pytest.raises(KafkaException):  # replication factor above 1 is impossible on one node
        admin.create_topics([NewTopic(f"{created}-r3", 1, 3)])[f"{created}-r3"].result(30)


def test_postgres_answers_as_helicase_and_creates_isolated_databases(infra: Infra) -> None:
    with psycopg.connect(infra.postgres.url(), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    name = f"devstack_{uuid.uuid4().hex[:8]}"
    url = infra.postgres.create_database(name)
    assert infra.postgres.create_database(name) == url  # idempotent
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("select current_database(), current_user").fetchone()
    assert row == (name, "helicase")


def test_infra_stop_leaves_no_process_and_frees_the_ports(home: Path) -> None:
    stack = Infra(home, InfraPorts.free(), durable=False)
    try:
        stack.start(timeout=90)
        assert len({part.pid for part in stack.components}) == 3
        assert processes_of(home)
    finally:
        stack.stop()
    assert processes_of(home) == []
    assert not any(part.running() for part in stack.components)
    ports = [stack.ports.zookeeper, stack.ports.kafka, stack.ports.kafka_controller]
    assert not any(port_in_use(port) for port in [*ports, stack.ports.postgres])


def test_a_server_that_cannot_start_fails_wait_ready_with_its_log(home: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        zookeeper = ZooKeeper(home, squatter.getsockname()[1])
        zookeeper.start()
        try:
            with pytest.raises(TimeoutError, match=r"(?s)zookeeper exited.*zookeeper.log"):
                zookeeper.wait_ready(30)
        finally:
            zookeeper.stop()
    assert processes_of(home) == []


def test_supervisor_starts_checks_kills_and_restarts_a_service(home: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    supervisor = Supervisor(
        home, [ServiceSpec("fake", FAKE_SERVICE, {}, addr)], {"HELICASE_X": "1"}
    )
    try:
        assert supervisor.start_all() == ["fake"]
        assert supervisor.start_all() == []  # already running: nothing new
        supervisor.wait_healthy(timeout=30)
        first = supervisor.pid("fake")
        assert first is not None and check_health(addr)
        assert processes_of(home) == [first]  # found without its pid file too
        environ = Path(f"/proc/{first}/environ").read_bytes().split(b"\0")
        assert b"HELICASE_X=1" in environ

        supervisor.kill("fake")  # a crash
        assert not supervisor.running("fake")
        assert not check_health(addr, timeout=0.5)

        supervisor.restart("fake")
        second = supervisor.pid("fake")
        assert second not in (None, first) and supervisor.healthy("fake")

        supervisor.kill("fake", signal.SIGSTOP)  # frozen: alive but unresponsive
        assert supervisor.running("fake") and not check_health(addr, timeout=0.5)
        supervisor.kill("fake", signal.SIGCONT)
        supervisor.wait_healthy(timeout=10)
    finally:
        started = time.monotonic()
        supervisor.stop_all()
        graceful = time.monotonic() - started
    assert graceful < 5  # SIGTERM was enough
    assert not supervisor.running("fake") and processes_of(home) == []
    assert "fake service stopped" in supervisor.log("fake").read_text()


def test_make_suite_gives_each_suite_its_own_namespace(
    make_suite: SuiteFactory, fake_modules: dict[str, str], infra: Infra
) -> None:
    one = make_suite(services=["api", "participant-1"], modules=fake_modules)
    two = make_suite(services=["api"], modules=fake_modules, extra_env={"HELICASE_Y": "2"})
    assert one.namespace != two.namespace and one.api_addr != two.api_addr
    assert one.topic_prefix == f"{one.namespace}." and one.zk.endswith(f"/{one.namespace}")
    assert two.env["HELICASE_Y"] == "2" and "HELICASE_Y" not in one.env
    assert set(one.env) >= {"HELICASE_ZK", "HELICASE_KAFKA", "HELICASE_DATABASE_URL"}
    zk = KazooClient(hosts=infra.zookeeper.connect)
    zk.start(timeout=10)
    try:
        assert zk.exists(f"/{one.namespace}") and zk.exists(f"/{two.namespace}")
    finally:
        zk.stop()
        zk.close()
    with psycopg.connect(one.database_url, connect_timeout=5) as conn:
        assert conn.execute("select current_database()").fetchone() == (one.namespace,)
    assert not one.supervisor.running("scheduler")  # only the requested services run

    one.kill("participant-1")
    assert check_health(one.addresses["api"]) and not check_health(one.addresses["participant-1"])
    one.restart("participant-1")
    assert check_health(one.addresses["participant-1"])

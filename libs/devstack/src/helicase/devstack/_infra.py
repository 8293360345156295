"""Apache ZooKeeper, Apache Kafka (KRaft, single node) and PostgreSQL on loopback."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from confluent_kafka.admin import AdminClient

from helicase.devstack import _paths, _proc

LOOPBACK = "127.0.0.1"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise FileNotFoundError("java is missing: run `make install`")
    return java


@dataclass
class ZooKeeper:
    """A standalone ZooKeeper server; state in <home>/zookeeper."""

    home: Path
    port: int = 2181
    tick_ms: int = 500

    @property
    def connect(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.home / "run" / "zookeeper.pid"

    @property
    def log(self) -> Path:
        return self.home / "logs" / "zookeeper.log"

    def running(self) -> bool:
        pid = _proc.read_pid(self.pidfile)
        return pid is not None and _proc.alive(pid)

    def start(self) -> None:
        data = self.home / "zookeeper"
        data.mkdir(parents=True, exist_ok=True)
        config = data / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_ms}",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    f"clientPortAddress={LOOPBACK}",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=*",
                    "minSessionTimeout=1000",
                    "maxSessionTimeout=60000",
                    "maxClientCnxns=0",
                    "",
                ]
            )
        )
        logback = _paths.repo_root() / "deploy" / "local" / "zookeeper" / "logback.xml"
        argv = [
            _java(),
            "-Xms64m",
            "-Xmx256m",
            f"-Dlogback.configurationFile={logback}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            f"{_paths.jar_dir('zookeeper')}/*",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(config),
        ]
        _proc.spawn(argv, log=self.log, pidfile=self.pidfile, cwd=data)

    def ready(self) -> bool:
        with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(16) == b"imok"

    def wait_ready(self, timeout: float = 60) -> None:
        _proc.wait_for(self.ready, timeout=timeout, what=f"ZooKeeper on {self.connect}")

    def stop(self) -> None:
        _proc.stop_pidfile(self.pidfile)


@dataclass
class Kafka:
    """A single-node Kafka broker and KRaft controller; state in <home>/kafka."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.home / "run" / "kafka.pid"

    @property
    def log(self) -> Path:
        return self.home / "logs" / "kafka.log"

    def running(self) -> bool:
        pid = _proc.read_pid(self.pidfile)
        return pid is not None and _proc.alive(pid)

    def _classpath(self) -> list[str]:
        log4j = _paths.repo_root() / "deploy" / "local" / "kafka" / "log4j.properties"
        return [
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{_paths.jar_dir('kafka')}/*",
        ]

    def start(self) -> None:
        data = self.home / "kafka"
        logs = data / "data"
        logs.mkdir(parents=True, exist_ok=True)
        config = data / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{LOOPBACK}:{self.controller_port}",
                    f"listeners=PLAINTEXT://{LOOPBACK}:{self.port},"
                    f"CONTROLLER://{LOOPBACK}:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={logs}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        if not (logs / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            subprocess.run(
                [_java(), *self._classpath(), "kafka.tools.StorageTool", "format",
                 "-t", cluster_id, "-c", str(config)],
                check=True, capture_output=True,
            )  # fmt: skip
        argv = [
            _java(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            *self._classpath(),
            "kafka.Kafka",
            str(config),
        ]
        _proc.spawn(argv, log=self.log, pidfile=self.pidfile, cwd=data)

    def ready(self) -> bool:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000})
        return bool(admin.list_topics(timeout=2).brokers)

    def wait_ready(self, timeout: float = 90) -> None:
        _proc.wait_for(self.ready, timeout=timeout, what=f"Kafka on {self.bootstrap}")

    def stop(self) -> None:
        _proc.stop_pidfile(self.pidfile, grace=20)


def _pg_bin() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin/postgres")), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise FileNotFoundError("PostgreSQL server is missing: run `make install`")
    return versions[-1].parent


@dataclass
class Postgres:
    """A PostgreSQL cluster listening on loopback only; data in `data_dir`.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, which must be
    able to reach `data_dir` (every parent traversable).
    """

    data_dir: Path
    log: Path
    pidfile: Path
    port: int = 5432
    durable: bool = True
    user: str = "helicase"
    password: str = "helicase"
    database: str = "helicase"
    _os_user: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._os_user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str | None = None) -> str:
        name = database or self.database
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{name}"

    def _admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def running(self) -> bool:
        pid = _proc.read_pid(self.pidfile)
        return pid is not None and _proc.alive(pid)

    def _chown(self, path: Path) -> None:
        if self._os_user is not None:
            entry = pwd.getpwnam(self._os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        bin_dir = _pg_bin()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.data_dir)
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--no-instructions"],
                check=True, capture_output=True, user=self._os_user, cwd="/",
            )  # fmt: skip
        options = [
            "-c", f"listen_addresses={LOOPBACK}", "-c", f"port={self.port}",
            "-c", "unix_socket_directories=", "-c", "max_connections=200",
        ]  # fmt: skip
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]  # fmt: skip
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._chown(self.log)
        _proc.spawn(
            [str(bin_dir / "postgres"), "-D", str(self.data_dir), *options],
            log=self.log, pidfile=self.pidfile, user=self._os_user, cwd=Path("/"),
        )  # fmt: skip

    def ready(self) -> bool:
        with psycopg.connect(self._admin_url(), connect_timeout=2) as conn:
            conn.execute("select 1")
        return True

    def wait_ready(self, timeout: float = 60) -> None:
        _proc.wait_for(self.ready, timeout=timeout, what=f"PostgreSQL on port {self.port}")
        self._ensure_role()
        self.create_database(self.database)

    def _ensure_role(self) -> None:
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (self.user,))
            if exists.fetchone() is None:
                conn.execute(f"create role {self.user} login password '{self.password}' createdb")

    def create_database(self, name: str) -> str:
        """Creates database `name` owned by the helicase role (if missing); returns its URL."""
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            found = conn.execute("select 1 from pg_database where datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f'create database "{name}" owner {self.user}')
        return self.url(name)

    def stop(self) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown; SIGINT is "fast" (disconnects clients).
        pid = _proc.read_pid(self.pidfile)
        if pid is not None and _proc.alive(pid):
            _proc.signal_group(pid, signal.SIGINT)
        _proc.stop_pidfile(self.pidfile, grace=20)


@dataclass
class Infra:
    """ZooKeeper, Kafka and PostgreSQL together."""

    zookeeper: ZooKeeper
    kafka: Kafka
    postgres: Postgres

    @classmethod
    def on_ports(
        cls, home: Path, *, zk: int, kafka: int, kafka_controller: int, pg: int,
        pg_data: Path | None = None, durable: bool = True,
    ) -> Infra:  # fmt: skip
        return cls(
            zookeeper=ZooKeeper(home=home, port=zk),
            kafka=Kafka(home=home, port=kafka, controller_port=kafka_controller),
            postgres=Postgres(
                data_dir=pg_data or home / "postgres",
                log=home / "logs" / "postgres.log",
                pidfile=home / "run" / "postgres.pid",
                port=pg,
                durable=durable,
            ),
        )

    def start(self, timeout: float = 120) -> None:
        """Starts whatever is not running yet, then waits until all three answer."""
        parts = (self.postgres, self.zookeeper, self.kafka)
        for part in parts:
            if not part.running():
                part.start()
        for part in parts:
            try:
                part.wait_ready(timeout)
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}\n--- {part.log} ---\n{_proc.tail(part.log)}") from exc

    def stop(self) -> None:
        for part in (self.kafka, self.zookeeper, self.postgres):
            part.stop()

"""Apache Kafka, one node acting as KRaft broker and controller, on loopback."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from helicase.devstack import _paths, _proc
from helicase.devstack._component import Component, java


class Kafka(Component):
    """A single-node Kafka (KRaft, broker+controller); config and log dirs in <home>/kafka.

    Topics are never created implicitly (`auto.create.topics.enable=false`): services create the
    topics they need. Internal topics use replication factor 1 and consumer groups start without
    the usual 3 s rebalance delay.
    """

    name = "kafka"

    def __init__(
        self, home: Path, port: int = 9092, *, controller_port: int = 9093, heap: str = "512m"
    ) -> None:
        super().__init__(home, port)
        self.controller_port = controller_port
        self.heap = heap

    @property
    def bootstrap(self) -> str:
        """bootstrap.servers for clients."""
        return self.address

    def _java_args(self) -> list[str]:
        log4j = _paths.deploy_dir() / "kafka" / "log4j.properties"
        return [
            java(),
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{_paths.jar_dir('kafka')}/*",
        ]

    def _write_config(self, data: Path, log_dirs: Path) -> Path:
        loop = _proc.LOOPBACK
        config = data / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{loop}:{self.controller_port}",
                    f"listeners=PLAINTEXT://{loop}:{self.port},"
                    f"CONTROLLER://{loop}:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{loop}:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={log_dirs}",
                    "num.partitions=1",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
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
        return config

    def start(self) -> None:
        data = self.home / "kafka"
        log_dirs = data / "data"
        log_dirs.mkdir(parents=True, exist_ok=True)
        config = self._write_config(data, log_dirs)
        if not (log_dirs / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            argv = [*self._java_args(), "kafka.tools.StorageTool", "format",
                    f"--cluster-id={cluster_id}", "-c", str(config)]  # fmt: skip
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"kafka storage format failed:\n{done.stdout}{done.stderr}")
        argv = [
            *self._java_args()[:1],
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            *self._java_args()[1:],
            "kafka.Kafka",
            str(config),
        ]
        _proc.spawn(argv, home=self.home, log=self.log, pidfile=self.pidfile, cwd=data)

    def _probe(self) -> bool:
        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap,
                "socket.timeout.ms": 2000,
                "log_level": 0,  # "connection refused" while it starts is expected, not news
            }
        )
        return bool(admin.list_topics(timeout=2).brokers)

    def stop(self, *, discard: bool = False) -> None:
        """A controlled shutdown (SIGTERM, SIGKILL after 20 s); `discard`: SIGKILL at once, for
        data thrown away next (a controlled shutdown of a broker holding the partitions of a
        whole test run takes all of those 20 s)."""
        _proc.stop_pidfile(self.pidfile, grace=0 if discard else 20)

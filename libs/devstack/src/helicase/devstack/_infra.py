"""ZooKeeper, Kafka and PostgreSQL started, awaited and stopped together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helicase.devstack._kafka import Kafka
from helicase.devstack._postgres import Postgres
from helicase.devstack._proc import free_port
from helicase.devstack._zookeeper import ZooKeeper


@dataclass(frozen=True, kw_only=True)
class InfraPorts:
    """Loopback ports of the infrastructure (defaults: the local suite of `make up`)."""

    zookeeper: int = 2181
    kafka: int = 9092
    kafka_controller: int = 9093
    postgres: int = 5432

    @classmethod
    def free(cls) -> InfraPorts:
        """Ports free right now (the test harness uses these)."""
        return cls(
            zookeeper=free_port(),
            kafka=free_port(),
            kafka_controller=free_port(),
            postgres=free_port(),
        )


class Infra:
    """ZooKeeper, Kafka (KRaft) and PostgreSQL under one home directory."""

    def __init__(self, home: Path, ports: InfraPorts | None = None, *, durable: bool = True):
        ports = ports or InfraPorts()
        self.home = home
        self.ports = ports
        self.zookeeper = ZooKeeper(home, ports.zookeeper)
        self.kafka = Kafka(home, ports.kafka, controller_port=ports.kafka_controller)
        self.postgres = Postgres(home, ports.postgres, durable=durable)

    @property
    def components(self) -> tuple[Postgres, ZooKeeper, Kafka]:
        return (self.postgres, self.zookeeper, self.kafka)

    def start(self, timeout: float = 120.0) -> list[str]:
        """Starts whatever is not running (all three at once), then waits until all three
        answer; returns the names of those it started. Raises TimeoutError with the end of the
        failing log."""
        started = []
        for part in self.components:
            if not part.running():
                part.start()
                started.append(part.name)
        for part in self.components:
            part.wait_ready(timeout)
        return started

    def stop(self, *, discard: bool = False) -> None:
        """Stops Kafka, then ZooKeeper, then PostgreSQL (each gracefully, then SIGKILL);
        `discard`: without waiting for any of them to save its data, which is removed next
        (Kafka and ZooKeeper killed, PostgreSQL's immediate shutdown)."""
        self.kafka.stop(discard=discard)
        self.zookeeper.stop(discard=discard)
        self.postgres.stop(discard=discard)

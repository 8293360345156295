"""The local Helicase suite: Apache ZooKeeper, Apache Kafka (KRaft) and PostgreSQL on loopback,
and a supervisor for the services. Used by `make up` and by the integration-test harness."""

from helicase.devstack._infra import Infra, Kafka, Postgres, ZooKeeper
from helicase.devstack._proc import free_port
from helicase.devstack._suite import ServiceSpec, Suite, local_services

__all__ = [
    "Infra",
    "Kafka",
    "Postgres",
    "ServiceSpec",
    "Suite",
    "ZooKeeper",
    "free_port",
    "local_services",
]

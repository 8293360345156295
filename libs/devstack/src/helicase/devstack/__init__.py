"""The local Helicase suite: Apache ZooKeeper, Apache Kafka (KRaft) and PostgreSQL on loopback,
and a supervisor for the services. Used by `make up` (`python -m helicase.devstack`) and by the
test harness (tests/conftest.py)."""

from helicase.devstack._infra import Infra, InfraPorts
from helicase.devstack._kafka import Kafka
from helicase.devstack._layout import SERVICE_NAMES, ServicePorts, service_specs, suite_env
from helicase.devstack._local_hpc import ClusterInfo, HpcPorts, LocalHpc
from helicase.devstack._local_hpc import describe as describe_local_cluster
from helicase.devstack._postgres import Postgres
from helicase.devstack._proc import free_port, processes_of
from helicase.devstack._supervisor import ServiceSpec, Supervisor, check_health
from helicase.devstack._zookeeper import ZooKeeper

__all__ = [
    "SERVICE_NAMES",
    "ClusterInfo",
    "HpcPorts",
    "Infra",
    "InfraPorts",
    "Kafka",
    "LocalHpc",
    "Postgres",
    "ServicePorts",
    "ServiceSpec",
    "Supervisor",
    "ZooKeeper",
    "check_health",
    "describe_local_cluster",
    "free_port",
    "processes_of",
    "service_specs",
    "suite_env",
]

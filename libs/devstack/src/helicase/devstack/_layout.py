"""The layout of a Helicase suite: which services run, on which ports, with which environment.

The one table of the local suite (defaults from docs: ZooKeeper 2181, Kafka 9092, PostgreSQL
5432, api 50051, ...). `make up` uses the defaults; the test harness builds the same suite on
free ports.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace

from helicase.devstack._proc import LOOPBACK, free_port
from helicase.devstack._supervisor import ServiceSpec

SERVICE_NAMES = (
    "api",
    "controller-a",
    "controller-b",
    "scheduler",
    "sink",
    "participant-1",
    "participant-2",
)


@dataclass(frozen=True, kw_only=True)
class ServicePorts:
    """Loopback ports of the services (defaults: the local suite of `make up`)."""

    api: int = 50051
    api_internal: int = 50061
    web: int = 8080
    controller_a: int = 50052
    controller_b: int = 50062
    controller_a_health: int = 50072
    controller_b_health: int = 50073
    scheduler: int = 50053
    sink: int = 50054
    participant_1: int = 50055
    participant_2: int = 50056
    # /metrics of each service, in SERVICE_NAMES order.
    metrics: tuple[int, ...] = tuple(range(9101, 9101 + len(SERVICE_NAMES)))

    @classmethod
    def free(cls) -> ServicePorts:
        """Ports free right now (the test harness uses these)."""
        return cls(
            api=free_port(),
            api_internal=free_port(),
            web=free_port(),
            controller_a=free_port(),
            controller_b=free_port(),
            controller_a_health=free_port(),
            controller_b_health=free_port(),
            scheduler=free_port(),
            sink=free_port(),
            participant_1=free_port(),
            participant_2=free_port(),
            metrics=tuple(free_port() for _ in SERVICE_NAMES),
        )


def _addr(port: int) -> str:
    return f"{LOOPBACK}:{port}"


def suite_env(
    *,
    zk: str,
    kafka: str,
    database_url: str,
    api_addr: str,
    api_internal_addr: str,
    topic_prefix: str = "",
) -> dict[str, str]:
    """What every service gets: where ZooKeeper (host:port[/chroot]), Kafka, PostgreSQL and the
    api (public and internal listeners) are, and the prefix of every Kafka topic name. Each
    process's certificate is the supervisor's doing (helicase.devstack.pki)."""
    return {
        "HELICASE_ZK": zk,
        "HELICASE_KAFKA": kafka,
        "HELICASE_DATABASE_URL": database_url,
        "HELICASE_API_ADDR": api_addr,
        "HELICASE_API_INTERNAL_ADDR": api_internal_addr,
        "HELICASE_TOPIC_PREFIX": topic_prefix,
    }


def scheduler_spec(name: str, scheduler_id: str, port: int) -> ServiceSpec:
    """A scheduler named `name` (its HELICASE_SCHEDULER_ID: `scheduler_id`) on `port`."""
    return ServiceSpec(
        name=name,
        module="helicase.scheduler",
        env={"HELICASE_SCHEDULER_ADDR": _addr(port), "HELICASE_SCHEDULER_ID": scheduler_id},
        health_addr=_addr(port),
    )


def participant_spec(
    index: int, port: int, prefix: str, extra_env: Mapping[str, str] | None = None
) -> ServiceSpec:
    """Participant `participant-<index>` on `port`, registered as `<prefix>-<index>` in the
    default group, serving `shell` (the local suite's default group does), with `extra_env`
    added to its environment."""
    return ServiceSpec(
        name=f"participant-{index}",
        module="helicase.participant",
        env={
            "HELICASE_PARTICIPANT_ADDR": _addr(port),
            "HELICASE_PARTICIPANT_NAME": f"{prefix}-{index}",
            "HELICASE_PARTICIPANT_GROUP": "default",
            "HELICASE_PARTICIPANT_ENABLE_SHELL": "1",
            **(extra_env or {}),
        },
        health_addr=_addr(port),
    )


def service_specs(
    ports: ServicePorts | None = None, *, participant_prefix: str | None = None
) -> list[ServiceSpec]:
    """The services of a suite, in start order. Participants are named <prefix>-1 and <prefix>-2
    (prefix: the host name by default)."""
    p = ports or ServicePorts()
    host = participant_prefix or socket.gethostname()

    def controller(name: str, port: int, health: int) -> ServiceSpec:
        return ServiceSpec(
            name=name,
            module="helicase.controller",
            env={
                "HELICASE_CONTROLLER_ADDR": _addr(port),  # mutual TLS
                "HELICASE_CONTROLLER_HEALTH_ADDR": _addr(health),
            },
            health_addr=_addr(health),
        )

    specs = [
        ServiceSpec(
            name="api",
            module="helicase.api",
            env={
                "HELICASE_API_ADDR": _addr(p.api),
                "HELICASE_API_INTERNAL_ADDR": _addr(p.api_internal),
                "HELICASE_WEB_ADDR": _addr(p.web),
            },
            health_addr=_addr(p.api),
        ),
        controller("controller-a", p.controller_a, p.controller_a_health),
        controller("controller-b", p.controller_b, p.controller_b_health),
        scheduler_spec("scheduler", "scheduler-0", p.scheduler),
        ServiceSpec(
            name="sink",
            module="helicase.sink",
            env={"HELICASE_SINK_ADDR": _addr(p.sink)},
            health_addr=_addr(p.sink),
        ),
        participant_spec(1, p.participant_1, host),
        participant_spec(2, p.participant_2, host),
    ]
    return [
        replace(spec, env={**spec.env, "HELICASE_METRICS_ADDR": _addr(port)})
        for spec, port in zip(specs, p.metrics, strict=True)
    ]

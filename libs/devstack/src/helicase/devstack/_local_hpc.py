"""The HPC part of the local suite (`make up`): the loopback cluster (sshd + munge + one-node
SLURM, helicase.devstack._hpc) under <home>/hpc on fixed ports, a participant serving the
airavata.* types.

What a client needs to use the cluster (host, port, user, host key, client key, scratch and
storage roots) is written to <home>/hpc/cluster.json once it runs; `describe()` reads it back.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from helicase.devstack import _proc, _secrets_env
from helicase.devstack._hpc import LoopbackCluster, hpc_available
from helicase.devstack._secrets_env import INTERNAL_TOKEN
from helicase.devstack._supervisor import ServiceSpec

AIRAVATA_TYPES = (
    "airavata.env_setup",
    "airavata.stage_in",
    "airavata.submit_job",
    "airavata.monitor_job",
    "airavata.stage_out",
    "airavata.archive",
    "airavata.cancel_job",
)
"""The types of helicase.participant.airavata (not imported: the devstack does not depend on the
participant)."""

PARTICIPANT = "participant-hpc"
CLUSTER_NAME = "helicase"


@dataclass(frozen=True, kw_only=True)
class HpcPorts:
    """Loopback ports of the local cluster and of its participant (defaults: `make up`)."""

    ssh: int = 50022
    slurmctld: int = 50023
    slurmd: int = 50024
    participant: int = 50057
    participant_metrics: int = 9108

    @classmethod
    def free(cls) -> HpcPorts:
        return cls(
            ssh=_proc.free_port(),
            slurmctld=_proc.free_port(),
            slurmd=_proc.free_port(),
            participant=_proc.free_port(),
            participant_metrics=_proc.free_port(),
        )


@dataclass(frozen=True)
class ClusterInfo:
    """What cluster.json records: enough to register the cluster with the api."""

    host: str
    ssh_port: int
    user: str
    host_key: str
    client_key_file: str
    scratch_root: str
    storage_root: str

    @property
    def client_private_key(self) -> str:
        return Path(self.client_key_file).read_text()


def with_hpc(
    specs: Sequence[ServiceSpec], home: Path, ports: HpcPorts, host: str | None = None
) -> list[ServiceSpec]:
    """`specs`, with the suite's secrets (helicase.devstack._secrets_env.give), plus the
    participant serving the airavata.* types."""
    shared = _secrets_env.ensure(home)
    token = {INTERNAL_TOKEN: shared[INTERNAL_TOKEN]}
    out = _secrets_env.give(specs, shared)
    addr = f"{_proc.LOOPBACK}:{ports.participant}"
    out.append(
        ServiceSpec(
            name=PARTICIPANT,
            module="helicase.participant",
            env={
                "HELICASE_PARTICIPANT_ADDR": addr,
                "HELICASE_PARTICIPANT_NAME": f"{host or socket.gethostname()}-hpc",
                "HELICASE_PARTICIPANT_GROUP": "default",
                "HELICASE_PARTICIPANT_TASK_TYPES": ",".join(AIRAVATA_TYPES),
                "HELICASE_METRICS_ADDR": f"{_proc.LOOPBACK}:{ports.participant_metrics}",
                **token,
            },
            health_addr=addr,
        )
    )
    return out


class LocalHpc:
    """The loopback cluster of the local suite, in <home>/hpc."""

    def __init__(self, home: Path, ports: HpcPorts | None = None) -> None:
        self.home = home / "hpc"
        self.ports = ports or HpcPorts()
        self.cluster = LoopbackCluster(
            self.home,
            ssh_port=self.ports.ssh,
            slurmctld_port=self.ports.slurmctld,
            slurmd_port=self.ports.slurmd,
            cluster_name=CLUSTER_NAME,
            keep_keys=True,
        )

    @property
    def info_file(self) -> Path:
        return self.home / "cluster.json"

    def unavailable(self) -> str | None:
        """Why the cluster cannot run on this machine (not root, packages missing), or None."""
        return hpc_available()

    def running(self) -> bool:
        """Whether every daemon runs and answers."""
        return all(pid is not None for _, pid in self.cluster.daemons()) and self.healthy()

    def healthy(self) -> bool:
        ports = (self.ports.ssh, self.ports.slurmctld, self.ports.slurmd)
        return self.cluster.munge_socket.exists() and all(_proc.port_in_use(p) for p in ports)

    def busy_ports(self) -> list[int]:
        ports = [self.ports.ssh, self.ports.slurmctld, self.ports.slurmd]
        return [port for port in ports if _proc.port_in_use(port)]

    def start(self, timeout: float = 120) -> ClusterInfo:
        """Starts the daemons (stopping any half of an earlier start first) and writes
        cluster.json; returns once a batch job has run."""
        self.stop()
        self.info_file.unlink(missing_ok=True)
        self.cluster.start(timeout=timeout)
        info = ClusterInfo(
            host=self.cluster.host,
            ssh_port=self.cluster.ssh_port,
            user=self.cluster.user,
            host_key=self.cluster.host_key,
            client_key_file=str(self.cluster.client_key),
            scratch_root=str(self.home / "scratch"),
            storage_root=str(self.home / "storage"),
        )
        for root in (info.scratch_root, info.storage_root):
            Path(root).mkdir(parents=True, exist_ok=True)
        self.info_file.write_text(json.dumps(asdict(info), indent=2) + "\n")
        return info

    def stop(self) -> None:
        self.cluster.stop()

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(component, pid, address, healthy) of each daemon, for `make status`."""
        addresses = {
            "sshd": f"{_proc.LOOPBACK}:{self.ports.ssh}",
            "munged": "munge.socket",
            "slurmctld": f"{_proc.LOOPBACK}:{self.ports.slurmctld}",
            "slurmd": f"{_proc.LOOPBACK}:{self.ports.slurmd}",
        }
        checks: dict[str, Callable[[], bool]] = {
            "sshd": lambda: _proc.port_in_use(self.ports.ssh),
            "munged": self.cluster.munge_socket.exists,
            "slurmctld": lambda: _proc.port_in_use(self.ports.slurmctld),
            "slurmd": lambda: _proc.port_in_use(self.ports.slurmd),
        }
        rows = []
        for name, pid in self.cluster.daemons():
            healthy = pid is not None and checks[name]()
            rows.append((name, str(pid or "-"), addresses[name], "yes" if healthy else "no"))
        return rows


def describe(home: Path, ports: HpcPorts | None = None) -> ClusterInfo | str:
    """The running local cluster of the suite in `home`, or why there is none."""
    local = LocalHpc(home, ports)
    problem = local.unavailable()
    if problem is not None:
        return problem
    if not local.running() or not local.info_file.exists():
        return f"the loopback cluster of {home} is not running (`make up` starts it)"
    return ClusterInfo(**json.loads(local.info_file.read_text()))

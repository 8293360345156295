"""The HPC part of the local suite (`make up`): the loopback cluster (sshd + munge + one-node
SLURM, helicase.devstack._hpc) under <home>/hpc on fixed ports, a participant serving the
airavata.* types, and the secrets the api and the participants share (generated once).

What a client needs to use the cluster (host, port, user, host key, client key, scratch and
storage roots) is written to <home>/hpc/cluster.json once it runs; `describe()` reads it back.
"""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from helicase.devstack import _proc
from helicase.devstack._hpc import LoopbackCluster, hpc_available
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
SECRETS_FILE = "secrets.env"
CREDENTIAL_KEY = "HELICASE_CREDENTIAL_KEY"


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


def secrets(home: Path) -> dict[str, str]:
    """HELICASE_CREDENTIAL_KEY of the suite in `home`, from <home>/secrets.env (mode 0600),
    which is written the first time."""
    path = home / SECRETS_FILE
    if not path.exists():
        text = f"{CREDENTIAL_KEY}={base64.b64encode(os.urandom(32)).decode()}\n"
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == CREDENTIAL_KEY:
            values[name.strip()] = value.strip()
    missing = {CREDENTIAL_KEY} - set(values)
    if missing:
        raise ValueError(f"{path} lacks {', '.join(sorted(missing))}: delete it to regenerate")
    return values


def with_hpc(
    specs: Sequence[ServiceSpec], home: Path, ports: HpcPorts, host: str | None = None
) -> list[ServiceSpec]:
    """`specs` plus the participant serving the airavata.* types; the api gets the credential
    key (participants resolve credentials with their certificates, never a shared secret)."""
    shared = secrets(home)
    out: list[ServiceSpec] = []
    for spec in specs:
        if spec.module == "helicase.api":
            spec = replace(spec, env={**spec.env, **shared})
        out.append(spec)
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

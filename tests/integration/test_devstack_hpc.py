"""The HPC part of the local suite (`make up`): the loopback sshd + one-node SLURM under
<home>/hpc starts once (a second `up` starts nothing), keeps its keys across a restart (so what
`make demo` registered with the api stays valid), shows in `status`, and stops leaving no
process; the api's secrets are generated once, mode 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from helicase.api.resources.credentials import parse_keyring
from helicase.devstack import (
    ClusterInfo,
    HpcPorts,
    LocalHpc,
    ServiceSpec,
    describe_local_cluster,
    processes_of,
    service_specs,
)
from helicase.devstack._cli import _up_hpc
from helicase.devstack._local_hpc import AIRAVATA_TYPES, PARTICIPANT, with_hpc
from helicase.devstack._proc import port_in_use
from helicase.devstack._secrets_env import ensure as secrets
from helicase.devstack.testing import new_home, remove_home


@pytest.fixture
def home() -> Iterator[Path]:
    path = new_home("helicase-devstack-hpc-")
    yield path
    remove_home(path)  # kills whatever a failed test left running


def test_secrets_are_generated_once_and_private(home: Path) -> None:
    first = secrets(home)
    assert set(first) == {
        "HELICASE_CREDENTIAL_KEY",
        "HELICASE_ADMIN_TOKEN",
    }
    assert secrets(home) == first
    assert stat.S_IMODE(os.stat(home / "secrets.env").st_mode) == 0o600
    assert parse_keyring(first["HELICASE_CREDENTIAL_KEY"]).current == "k1"

    specs = {s.name: s for s in with_hpc(service_specs(), home, HpcPorts(), host="box")}
    assert specs["api"].env["HELICASE_CREDENTIAL_KEY"] == first["HELICASE_CREDENTIAL_KEY"]
    participants = [s for s in specs.values() if s.module == "helicase.participant"]
    assert [s.name for s in participants] == ["participant-1", "participant-2", PARTICIPANT]
    assert specs["api"].env["HELICASE_ADMIN_TOKEN"] == first["HELICASE_ADMIN_TOKEN"]
    others = [s for s in specs.values() if s.name != "api"]
    assert all("HELICASE_CREDENTIAL_KEY" not in s.env for s in others)
    assert all("HELICASE_ADMIN_TOKEN" not in s.env for s in others)
    hpc: ServiceSpec = specs[PARTICIPANT]
    assert hpc.env["HELICASE_PARTICIPANT_TASK_TYPES"].split(",") == list(AIRAVATA_TYPES)
    assert hpc.env["HELICASE_PARTICIPANT_NAME"] == "box-hpc"
    metrics = [s.env["HELICASE_METRICS_ADDR"] for s in specs.values()]
    assert len(set(metrics)) == len(metrics)  # its own /metrics port


def test_without_root_or_slurm_up_skips_the_cluster_with_a_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Unavailable(LocalHpc):
        def unavailable(self) -> str | None:
            return "the loopback SLURM runs its daemons as root"

    assert _up_hpc(Unavailable(home, HpcPorts.free())) is False
    assert "skipping the loopback HPC cluster (sshd + SLURM): the loopback SLURM runs its" in (
        capsys.readouterr().out
    )
    assert processes_of(home) == []


def test_local_cluster_starts_once_keeps_its_keys_and_stops_cleanly(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = HpcPorts.free()
    hpc = LocalHpc(home, ports)
    try:
        assert isinstance(describe_local_cluster(home, ports), str)  # not running yet
        assert _up_hpc(hpc) is True
        assert "starting the loopback HPC cluster" in capsys.readouterr().out
        assert hpc.running()
        assert _up_hpc(LocalHpc(home, ports)) is False  # a second `up`: already running
        rows = LocalHpc(home, ports).rows()
        assert [(r[0], r[3]) for r in rows] == [
            ("sshd", "yes"),
            ("munged", "yes"),
            ("slurmctld", "yes"),
            ("slurmd", "yes"),
        ]
        info = describe_local_cluster(home, ports)
        assert isinstance(info, ClusterInfo), info
        assert info.ssh_port == ports.ssh and Path(info.storage_root).is_dir()
        assert "PRIVATE KEY" in info.client_private_key
        done = hpc.cluster.ssh(f"sinfo -h -o %P && test -d {info.scratch_root} && echo ok")
        assert done.returncode == 0 and done.stdout.split() == ["debug*", "ok"], done.stderr

        # `make down` then `make up`: the same keys, so the registered resources still work.
        LocalHpc(home, ports).stop()
        assert processes_of(home) == []
        again = LocalHpc(home, ports)
        assert _up_hpc(again) is True
        assert again.cluster.host_key == info.host_key
        described = describe_local_cluster(home, ports)
        assert isinstance(described, ClusterInfo)
        assert described.client_private_key == info.client_private_key
    finally:
        LocalHpc(home, ports).stop()  # what `make down` does, from another process's view
    assert processes_of(home) == []
    assert not any(port_in_use(p) for p in (ports.ssh, ports.slurmctld, ports.slurmd))
    assert [row[1] for row in LocalHpc(home, ports).rows()] == ["-"] * 4

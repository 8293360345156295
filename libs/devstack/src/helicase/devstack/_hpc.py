"""A loopback "cluster" for the HPC task library's tests: OpenSSH's sshd and a one-node SLURM.

Everything lives in one home directory: generated keys (sshd's host key, a client key pair, the
munge key), an sshd_config, a slurm.conf, SLURM's state and spool directories, pid files and logs.
sshd runs in the foreground (`-D -e`) on a free port; munged, slurmctld and slurmd run in the
foreground too, as root (the tests run as root), on free ports. No systemd, no cgroups.

Commands run over SSH find the cluster through SLURM_CONF, which sshd sets in every session
(`SetEnv`), the way a login node's profile would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from helicase.devstack import _proc

SSHD = "/usr/sbin/sshd"
MUNGED = "/usr/sbin/munged"
SLURMCTLD = "/usr/sbin/slurmctld"
SLURMD = "/usr/sbin/slurmd"
PACKAGES = "openssh-server, slurmctld, slurmd, slurm-client, munge"


def hpc_available() -> str | None:
    """Why the loopback cluster cannot start here, or None when it can."""
    missing = [p for p in (SSHD, MUNGED, SLURMCTLD, SLURMD) if not Path(p).exists()]
    missing += [t for t in ("ssh-keygen", "sbatch", "sinfo") if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}: run `make install` (installs {PACKAGES})"
    if os.geteuid() != 0:
        return "the loopback SLURM runs its daemons as root"
    return None


def _keygen(path: Path, comment: str) -> str:
    """Generates an ed25519 key pair at `path` (and `path`.pub); returns the public key line."""
    path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class _Daemon(_proc.RunFiles):
    """One foreground daemon of the cluster: argv, pid file and log under the home."""

    name: str
    argv: list[str]
    home: Path
    env: dict[str, str] | None = None

    def start(self) -> None:
        _proc.spawn(self.argv, home=self.home, log=self.log, pidfile=self.pidfile, env=self.env)

    def running(self) -> bool:
        return _proc.read_pid(self.pidfile) is not None

    def stop(self) -> None:
        _proc.stop_pidfile(self.pidfile, grace=10)


class LoopbackCluster:
    """sshd + munged + slurmctld + slurmd under `home`, all on loopback.

    `start()` returns once SSH logins work, `sinfo` shows the node idle and a `sbatch --wrap` job
    has run; `stop()` stops every daemon (also after a failed start).
    """

    def __init__(
        self,
        home: Path,
        *,
        ssh_port: int | None = None,
        slurmctld_port: int | None = None,
        slurmd_port: int | None = None,
        cluster_name: str | None = None,
        keep_keys: bool = False,
    ) -> None:
        """Free ports and fresh keys by default. The local suite (`make up`) passes fixed ports,
        a fixed cluster name and `keep_keys` (the keys of an earlier start are reused, so the
        host key and client key registered with the api stay valid)."""
        self.home = home
        self.ssh_port = ssh_port or _proc.free_port()
        self.slurmctld_port = slurmctld_port or _proc.free_port()
        self.slurmd_port = slurmd_port or _proc.free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.cluster_name = cluster_name or f"h{uuid.uuid4().hex[:8]}"
        self.keep_keys = keep_keys
        self.etc = home / "etc"
        self.client_key = self.etc / "id_ed25519"
        self.host_key_file = self.etc / "ssh_host_ed25519_key"
        self.slurm_conf = self.etc / "slurm.conf"
        self.munge_socket = home / "run" / "munge.socket"
        self.munge_key = home / "munge" / "munge.key"
        self.host_key = ""  # "ssh-ed25519 AAAA..." (sshd's public host key)
        self.client_public_key = ""
        self._daemons: list[_Daemon] = self._daemon_list()
        self._started: list[_Daemon] = []

    # --- what clients need

    @property
    def host(self) -> str:
        return _proc.LOOPBACK

    @property
    def client_private_key(self) -> str:
        """The OpenSSH private key that logs in as `user`."""
        return self.client_key.read_text()

    def env(self) -> dict[str, str]:
        """The environment local SLURM commands need (the SSH sessions get it from sshd)."""
        return {**os.environ, "SLURM_CONF": str(self.slurm_conf)}

    def ssh_argv(self, command: str) -> list[str]:
        """An `ssh` command line that runs `command` on the cluster with the client key."""
        return [
            "ssh",
            "-i",
            str(self.client_key),
            "-p",
            str(self.ssh_port),
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={self.etc / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"{self.user}@{self.host}",
            command,
        ]

    def ssh(self, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Runs `command` over SSH (the host key checked against the generated one)."""
        return subprocess.run(
            self.ssh_argv(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    # --- lifecycle

    def start(self, timeout: float = 90) -> None:
        try:
            self._configure()
            for daemon in self._daemons:
                daemon.start()
                self._started.append(daemon)
                self._wait_daemon(daemon, timeout)
            self._wait(self._ssh_ready, timeout, "sshd")
            self._wait(self._node_idle, timeout, "slurm node idle")
            self._wait(self._sbatch_works, timeout, "sbatch --wrap")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        errors: list[BaseException] = []
        for daemon in reversed(self._daemons):
            try:
                daemon.stop()
            except Exception as exc:  # the others must still be stopped
                errors.append(exc)
        # slurmd's job steps (slurmstepd) and the jobs' processes run in sessions of their own.
        for pid in _proc.processes_of(self.home):
            _proc.stop(pid, grace=2)
        if errors:
            raise errors[0]

    def stop_sshd(self) -> None:
        """Stops sshd and drops its open sessions (the login node going away: new connections
        are refused, transfers in flight break); `start_sshd` brings it back."""
        daemon = self._daemon("sshd")
        pid = _proc.read_pid(daemon.pidfile)
        sessions = _proc.descendants(pid) if pid is not None else []
        daemon.stop()
        for session in sessions:
            _proc.stop(session, grace=2, whole_group=False)

    def start_sshd(self, timeout: float = 30) -> None:
        """Starts sshd again (after `stop_sshd`) and returns once a login works."""
        self._daemon("sshd").start()
        self._wait(self._ssh_ready, timeout, "sshd")

    def _daemon(self, name: str) -> _Daemon:
        return next(d for d in self._daemons if d.name == name)

    def daemons(self) -> list[tuple[str, int | None]]:
        """Each daemon's name and pid (None: not running), from the pid files."""
        return [(d.name, _proc.read_pid(d.pidfile)) for d in self._daemons]

    def load_keys(self) -> None:
        """Reads `host_key` and `client_public_key` from the files of an earlier start."""
        self.host_key = " ".join(Path(f"{self.host_key_file}.pub").read_text().split()[:2])
        self.client_public_key = Path(f"{self.client_key}.pub").read_text().strip()

    def logs(self, lines: int = 30) -> str:
        """The end of every daemon's log (for assertion messages)."""
        return "\n".join(f"--- {d.name} ---\n{_proc.tail(d.log, lines)}" for d in self._daemons)

    # --- configuration

    def _configure(self) -> None:
        for sub in ("etc", "run", "logs", "ssh", "munge", "slurm/state", "slurm/spool", "jobs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.etc.chmod(0o700)
        kept = self.keep_keys and all(
            path.exists()
            for path in (
                self.host_key_file,
                Path(f"{self.host_key_file}.pub"),
                self.client_key,
                Path(f"{self.client_key}.pub"),
            )
        )
        if kept:
            self.load_keys()
        else:
            self.host_key = " ".join(_keygen(self.host_key_file, "helicase-test-host").split()[:2])
            self.client_public_key = _keygen(self.client_key, "helicase-test-client")
        (self.etc / "known_hosts").write_text(f"[{self.host}]:{self.ssh_port} {self.host_key}\n")
        authorized = self.etc / "authorized_keys"
        authorized.write_text(self.client_public_key + "\n")
        authorized.chmod(0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        (self.etc / "sshd_config").write_text(self._sshd_config_text(authorized))
        if not (self.keep_keys and self.munge_key.exists()):
            self.munge_key.unlink(missing_ok=True)
            self.munge_key.write_bytes(os.urandom(1024))
            self.munge_key.chmod(0o400)
        (self.home / "munge").chmod(0o700)
        self.munge_socket.unlink(missing_ok=True)  # a stale one would pass munged's readiness
        self.slurm_conf.write_text(self._slurm_conf_text())
        self.slurm_conf.chmod(0o644)

    def _daemon_list(self) -> list[_Daemon]:
        """The daemons in start order (their argv only: `_configure` writes their files)."""
        config = self.etc / "sshd_config"
        munged = [
            MUNGED,
            "--foreground",
            "--force",
            f"--key-file={self.munge_key}",
            f"--socket={self.munge_socket}",
            f"--pid-file={self.home / 'run' / 'munged.own.pid'}",
            f"--seed-file={self.home / 'munge' / 'munged.seed'}",
            f"--log-file={self.home / 'logs' / 'munged.own.log'}",
        ]
        slurmctld = [SLURMCTLD, "-D", "-i", "-f", str(self.slurm_conf)]
        slurmd = [SLURMD, "-D", "-N", "localhost", "-f", str(self.slurm_conf)]
        return [
            _Daemon("sshd", [SSHD, "-D", "-e", "-f", str(config)], self.home),
            _Daemon("munged", munged, self.home),
            _Daemon("slurmctld", slurmctld, self.home, env=self.env()),
            _Daemon("slurmd", slurmd, self.home, env=self.env()),
        ]

    def _sshd_config_text(self, authorized: Path) -> str:
        return "\n".join(
            [
                f"ListenAddress {self.host}",
                f"Port {self.ssh_port}",
                f"HostKey {self.host_key_file}",
                f"PidFile {self.home / 'run' / 'sshd.own.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                f"SetEnv SLURM_CONF={self.slurm_conf} HELICASE_DEVSTACK_HOME={self.home}",
                "MaxStartups 100",
                "MaxSessions 100",
                "LogLevel INFO",
                "",
            ]
        )

    def _slurm_conf_text(self) -> str:
        cpus = os.cpu_count() or 1
        state = self.home / "slurm" / "state"
        spool = self.home / "slurm" / "spool"
        logs = self.home / "logs"
        run = self.home / "run"
        return "\n".join(
            [
                f"ClusterName={self.cluster_name}",
                f"SlurmctldHost={socket.gethostname()}({_proc.LOOPBACK})",
                f"SlurmctldPort={self.slurmctld_port}",
                f"SlurmdPort={self.slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.munge_socket}",
                f"StateSaveLocation={state}",
                f"SlurmdSpoolDir={spool}",
                f"SlurmctldPidFile={run / 'slurmctld.own.pid'}",
                f"SlurmdPidFile={run / 'slurmd.own.pid'}",
                f"SlurmctldLogFile={logs / 'slurmctld.own.log'}",
                f"SlurmdLogFile={logs / 'slurmd.own.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "ReturnToService=2",
                "SlurmdParameters=config_overrides",
                "MinJobAge=600",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "KillWait=5",
                "Waittime=0",
                f"NodeName=localhost NodeAddr={_proc.LOOPBACK} CPUs={cpus} RealMemory=1024 "
                "State=UNKNOWN",
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    # --- readiness

    def _wait_daemon(self, daemon: _Daemon, timeout: float) -> None:
        if daemon.name == "munged":
            self._wait(self.munge_socket.exists, timeout, "munged socket")
        elif daemon.name == "slurmctld":
            self._wait(self._slurmctld_ready, timeout, "slurmctld")
        time.sleep(0.1)
        if not daemon.running():
            raise RuntimeError(f"{daemon.name} exited at start\n{self.logs()}")

    def _wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        def guarded() -> bool:
            for daemon in self._started:
                if not daemon.running():
                    raise _proc.ProcessExited(f"{daemon.name} exited")
            return check()

        try:
            _proc.wait_for(guarded, timeout=timeout, what=what, interval=0.3)
        except (TimeoutError, _proc.ProcessExited) as exc:
            raise TimeoutError(f"{exc}\n{self.logs()}") from exc

    def _run(self, argv: Sequence[str], timeout: float = 15) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def _slurmctld_ready(self) -> bool:
        return self._run(["scontrol", "ping"]).stdout.count("UP") > 0

    def _ssh_ready(self) -> bool:
        done = self.ssh("echo ready", timeout=10)
        return done.returncode == 0 and done.stdout.strip() == "ready"

    def _node_idle(self) -> bool:
        out = self._run(["sinfo", "-h", "-N", "-o", "%N %t"]).stdout.split()
        return out[:2] == ["localhost", "idle"]

    def _sbatch_works(self) -> bool:
        out = self.home / "jobs" / f"probe-{uuid.uuid4().hex[:6]}.out"
        submitted = self._run(
            ["sbatch", "--parsable", "--wait", "-o", str(out), "--wrap", "echo probe-ok"],
            timeout=60,
        )
        with contextlib.suppress(FileNotFoundError):
            return submitted.returncode == 0 and out.read_text().strip() == "probe-ok"
        return False

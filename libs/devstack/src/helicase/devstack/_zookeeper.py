"""Apache ZooKeeper, standalone, on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

from helicase.devstack import _paths, _proc
from helicase.devstack._component import Component, java


class ZooKeeper(Component):
    """A standalone ZooKeeper server; data and zoo.cfg in <home>/zookeeper.

    A short tick lets clients ask for sessions of a few seconds (allowed: 2 to 20 ticks), so a
    killed service loses its ephemeral nodes quickly.
    """

    name = "zookeeper"

    def __init__(self, home: Path, port: int = 2181, *, tick_ms: int = 500) -> None:
        super().__init__(home, port)
        self.tick_ms = tick_ms

    @property
    def connect(self) -> str:
        """The connect string, host:port (append a chroot path for isolation)."""
        return self.address

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
                    f"clientPortAddress={_proc.LOOPBACK}",
                    "admin.enableServer=false",
                    # ruok (our health probe) and srvr answer; dump, cons, envi, wchp and the
                    # rest, which give away sessions, paths and the environment, do not.
                    "4lw.commands.whitelist=ruok,srvr",
                    f"minSessionTimeout={2 * self.tick_ms}",
                    f"maxSessionTimeout={60 * self.tick_ms}",
                    "maxClientCnxns=0",
                    "autopurge.purgeInterval=1",
                    "",
                ]
            )
        )
        logback = _paths.deploy_dir() / "zookeeper" / "logback.xml"
        argv = [
            java(),
            "-Xms64m",
            "-Xmx256m",
            "-XX:+ExitOnOutOfMemoryError",
            f"-Dlogback.configurationFile={logback}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            f"{_paths.jar_dir('zookeeper')}/*",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(config),
        ]
        _proc.spawn(argv, home=self.home, log=self.log, pidfile=self.pidfile, cwd=data)

    def four_letter(self, command: str, timeout: float = 2.0) -> str:
        """Sends a four-letter command and returns the answer (only `ruok` and `srvr` are
        served; any other answers that it is not in the whitelist)."""
        with socket.create_connection((_proc.LOOPBACK, self.port), timeout=timeout) as sock:
            sock.sendall(command.encode())
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _probe(self) -> bool:
        return self.four_letter("ruok") == "imok"

    def stop(self, *, discard: bool = False) -> None:
        """SIGTERM, SIGKILL after 10 s; `discard`: SIGKILL at once (its data is removed next)."""
        _proc.stop_pidfile(self.pidfile, grace=0 if discard else 10)

"""PostgreSQL from Debian's packages, one private cluster listening on loopback only."""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from helicase.devstack import _proc
from helicase.devstack._component import Component

SERVER_ACCOUNT = "postgres"


def server_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that holds a server."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise FileNotFoundError("the PostgreSQL server is missing: run `make install`")
    return found[-1].parent


def _reachable(path: Path, account: pwd.struct_passwd) -> bool:
    """Whether `account` may traverse every existing directory from / down to `path`."""
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == account.pw_uid:
            bit = 0o100
        elif st.st_gid == account.pw_gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


class Postgres(Component):
    """A PostgreSQL cluster on 127.0.0.1 (no Unix socket); data in <home>/postgres.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` account,
    which must be able to traverse every parent of the data directory. When the home is not
    traversable (pytest's tmp dirs are 0700) the data goes to /var/tmp instead. The role and
    database `helicase` (password `helicase`) exist once `wait_ready` returns.
    """

    name = "postgres"

    def __init__(
        self,
        home: Path,
        port: int = 5432,
        *,
        data_dir: Path | None = None,
        durable: bool = True,
        role: str = "helicase",
        password: str = "helicase",
        database: str = "helicase",
    ) -> None:
        super().__init__(home, port)
        self.durable = durable
        self.role = role
        self.password = password
        self.database = database
        self._account = pwd.getpwnam(SERVER_ACCOUNT) if os.geteuid() == 0 else None
        self.data_dir = data_dir or self._default_data_dir()

    def _default_data_dir(self) -> Path:
        inside = self.home / "postgres"
        if self._account is None or _reachable(self.home, self._account):
            return inside
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"helicase-postgres-{digest}"

    def url(self, database: str | None = None) -> str:
        """URL of `database` (default: the helicase database) for the helicase role."""
        name = database or self.database
        return f"postgresql://{self.role}:{self.password}@{_proc.LOOPBACK}:{self.port}/{name}"

    def _admin_url(self) -> str:
        return f"postgresql://{SERVER_ACCOUNT}@{_proc.LOOPBACK}:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        account = self._account
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")

    def _init_cluster(self, bin_dir: Path) -> None:
        account = self._account
        if account is not None and not _reachable(self.data_dir.parent, account):
            raise PermissionError(
                f"the {SERVER_ACCOUNT} account cannot reach {self.data_dir}: "
                "every parent directory must be traversable (mode o+x)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if account is not None:
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        argv = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SERVER_ACCOUNT,
                "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]  # fmt: skip
        if not self.durable:
            argv.append("--no-sync")
        self._run(argv)

    def start(self) -> None:
        bin_dir = server_bin()
        if not (self.data_dir / "PG_VERSION").exists():
            self._init_cluster(bin_dir)
        settings = {
            "listen_addresses": _proc.LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
        }
        if not self.durable:  # tests: nothing survives a crash anyway
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        _proc.spawn(
            [str(bin_dir / "postgres"), "-D", str(self.data_dir), *options],
            home=self.home,
            log=self.log,
            pidfile=self.pidfile,
            cwd=Path("/"),
            user=SERVER_ACCOUNT if self._account else None,
        )

    def _probe(self) -> bool:
        with psycopg.connect(self._admin_url(), connect_timeout=2) as conn:
            conn.execute("select 1")
        return True

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Waits until the server answers, then makes sure the helicase role and database exist."""
        super().wait_ready(timeout)
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            found = conn.execute("select 1 from pg_roles where rolname = %s", (self.role,))
            if found.fetchone() is None:
                conn.execute(
                    sql.SQL("create role {} login createdb password {}").format(
                        sql.Identifier(self.role), sql.Literal(self.password)
                    )
                )
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Creates database `name` owned by the helicase role (unless it exists); returns its
        URL. Tests use one database per suite to stay isolated."""
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            found = conn.execute("select 1 from pg_database where datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(
                    sql.SQL("create database {} owner {}").format(
                        sql.Identifier(name), sql.Identifier(self.role)
                    )
                )
        return self.url(name)

    def stop(self, *, discard: bool = False) -> None:
        # SIGINT to the postmaster alone is PostgreSQL's "fast" shutdown: it disconnects clients,
        # checkpoints and stops its own children. SIGQUIT (`discard`: its data is removed next)
        # is the "immediate" one: no checkpoint.
        first = signal.SIGQUIT if discard else signal.SIGINT
        _proc.stop_pidfile(self.pidfile, grace=20, first=first, whole_group=False)

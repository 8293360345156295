"""`python -m helicase.devstack up|down|status`: the local suite on its default ports."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from helicase.devstack import _paths, _proc
from helicase.devstack._infra import Infra
from helicase.devstack._suite import Suite, healthy, local_services


def _pg_data(home: Path) -> Path:
    """PostgreSQL's data directory: under the home when the postgres user can reach it."""
    inside = home / "postgres"
    if os.geteuid() != 0:
        return inside
    reachable = all(os.stat(p).st_mode & 0o001 for p in [home, *home.parents] if p.exists())
    return inside if reachable else Path("/var/tmp") / f"helicase-pg-{abs(hash(home)) % 10**8}"


def build(home: Path) -> tuple[Infra, Suite]:
    infra = Infra.on_ports(home, zk=2181, kafka=9092, kafka_controller=9093, pg=5432,
                           pg_data=_pg_data(home))  # fmt: skip
    env = {
        **os.environ,
        "HELICASE_ZK": infra.zookeeper.connect,
        "HELICASE_KAFKA": infra.kafka.bootstrap,
        "HELICASE_DATABASE_URL": infra.postgres.url(),
        "HELICASE_API_ADDR": "127.0.0.1:50051",
        "HELICASE_TOPIC_PREFIX": os.environ.get("HELICASE_TOPIC_PREFIX", ""),
    }
    return infra, Suite(home, local_services(), env)


def up(home: Path) -> int:
    infra, suite = build(home)
    started = time.monotonic()
    already = [p.__class__.__name__ for p in (infra.postgres, infra.zookeeper, infra.kafka)
               if p.running()]  # fmt: skip
    infra.start()
    launched = suite.start_all()
    try:
        suite.wait_healthy()
    except (TimeoutError, RuntimeError) as exc:
        print(f"the suite did not become healthy: {exc}", file=sys.stderr)
        return 1
    if not launched and len(already) == 3:
        print("the suite was already running and healthy; nothing started")
    else:
        print(
            f"started {', '.join(launched) or 'no services'} in {time.monotonic() - started:.1f}s"
        )
    status(home)
    return 0


def down(home: Path) -> int:
    infra, suite = build(home)
    suite.stop_all()
    infra.stop()
    leftovers = [p for p in (home / "run").glob("*.pid") if _proc.read_pid(p)]
    for pidfile in leftovers:
        _proc.stop_pidfile(pidfile)
    print("stopped the suite")
    return 0


def status(home: Path) -> int:
    infra, suite = build(home)
    rows: list[tuple[str, str, str, str]] = []
    for name, part, addr in (
        ("postgres", infra.postgres, f"127.0.0.1:{infra.postgres.port}"),
        ("zookeeper", infra.zookeeper, infra.zookeeper.connect),
        ("kafka", infra.kafka, infra.kafka.bootstrap),
    ):
        pid = _proc.read_pid(part.pidfile)
        running = pid is not None and _proc.alive(pid)
        try:
            ok = running and part.ready()
        except Exception:
            ok = False
        rows.append((name, str(pid) if running else "-", addr, "healthy" if ok else "down"))
    for name, spec in suite.specs.items():
        pid = suite.pid(name)
        ok = pid is not None and healthy(spec.health_addr)
        rows.append((name, str(pid or "-"), spec.health_addr, "healthy" if ok else "down"))
    print(f"{'component':16} {'pid':>8}  {'address':22} state")
    for row in rows:
        print(f"{row[0]:16} {row[1]:>8}  {row[2]:22} {row[3]}")
    print(f"state and logs: {home}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="helicase-devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args()
    home = _paths.home()
    home.mkdir(parents=True, exist_ok=True)
    sys.exit({"up": up, "down": down, "status": status}[args.command](home))


if __name__ == "__main__":
    main()

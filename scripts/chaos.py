"""`make chaos`: runs a Helicase suite (on its own ZooKeeper, Kafka and PostgreSQL, fsync on,
free ports, a fresh home) under load, kill -9's its processes every few seconds, restarts each
piece of infrastructure once, then checks that no workflow, task or event was lost or
duplicated. Prints the figures; exits 1 when a check fails (see helicase.devstack.chaos)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from helicase.devstack.chaos import ChaosOptions, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=1000, help="workflows to submit")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of chaos")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument("--kill-interval", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to drain at the end")
    parser.add_argument("--no-infra-restarts", action="store_true", help="kill services only")
    parser.add_argument(
        "--leader-storm",
        type=int,
        default=6,
        help="rounds of back-to-back leader kills (the leader, then its successor 0-6 s after "
        "it is elected); 0 for none",
    )
    parser.add_argument(
        "--hog", action="store_true", help="burn every core and fsync in a loop beside the suite"
    )
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the logs, data and ledger of the run"
    )
    args = parser.parse_args()
    options = ChaosOptions(
        workflows=args.workflows,
        duration=args.duration,
        seed=args.seed,
        kill_interval=args.kill_interval,
        wait_timeout=args.wait,
        infra_restarts=not args.no_infra_restarts,
        keep_home=args.keep_home,
        leader_storm=args.leader_storm,
        hog=args.hog,
        log=lambda line: print(line, flush=True),
    )
    report = asyncio.run(run_chaos(options))
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

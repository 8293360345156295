"""`make fuzz`: a long fuzz run of the public API on its own suite (own ZooKeeper, Kafka and
PostgreSQL, free ports, a fresh home, all stopped at the end): requests generated from the
descriptors of every public RPC, garbage bytes over gRPC and Connect, garbage on every Kafka
topic, as a tenant admin, a viewer and the platform admin. Prints the requests sent per method,
the rate, the findings (UNKNOWN or INTERNAL answers), RSS growth and stalls; exits 1 on any
finding not listed as known in tests/integration/bounds/test_fuzz.py, a process exit or a stall
(see helicase.devstack.fuzz)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from helicase.devstack.fuzz import Budget, FuzzOptions, known_findings, run_standalone

TEST_MODULE = Path(__file__).resolve().parents[1] / "tests/integration/bounds/test_fuzz.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000, help="requests to send")
    parser.add_argument("--batch", type=int, default=5_000, help="requests between checks")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generation")
    parser.add_argument("--keep-home", action="store_true", help="keep the logs and data")
    args = parser.parse_args()
    options = FuzzOptions(
        requests=args.requests,
        batch=args.batch,
        kafka_per_topic=20,
        seed=args.seed,
        platform_admin=True,
        budget=Budget(huge=1_000_000),
        log=lambda line: print(line, flush=True),
    )
    known = known_findings(TEST_MODULE)
    report = asyncio.run(run_standalone(options, known, keep_home=args.keep_home))
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

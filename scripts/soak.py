"""`make soak`: a suite of its own (ZooKeeper, Kafka, PostgreSQL, every service; free ports, a
fresh home), a short ramp measuring the maximum sustained rate of a mixed load (unless --rate),
then --duration seconds at half of it with the RSS of every process sampled; then every workflow
is awaited and the chaos checks run. Prints the figures and the RSS table, writes the samples
(rss.csv, soak.json); exits 1 when something was lost or a process died (see
helicase.devstack.soak). RSS growth is reported, never a failure."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import fields, replace
from functools import partial

from helicase.devstack._soak_model import Flatness, LoadMix
from helicase.devstack.soak import SoakOptions, run_soak

NUMBERS: tuple[tuple[str, type, float, str], ...] = (
    ("--duration", float, 1800.0, "seconds of soak"),
    ("--fraction", float, 0.5, "share of the measured maximum to soak at"),
    ("--ramp-start", float, 1.0, "first ramp rate (workflows/s)"),
    ("--ramp-factor", float, 2.0, "rate factor per ramp step"),
    ("--ramp-cap", float, 64.0, "highest ramp rate (workflows/s)"),
    ("--ramp-step", float, 30.0, "seconds per ramp step"),
    ("--sample-interval", float, 60.0, "seconds between RSS samples"),
    ("--warmup", float, 60.0, "seconds before the RSS verdict's baseline sample"),
    ("--flat-pct", float, 10.0, "flat: growth after the warm-up under this percentage"),
    ("--flat-mb", float, 50.0, "flat: growth after the warm-up under this many MB"),
    ("--tenants", int, 2, "tenants submitting (at least 1)"),
    ("--readers", int, 2, "reader loops per tenant"),
    ("--seed", int, 1, "seed of every random choice"),
    ("--wait", float, 300.0, "seconds to wait for every workflow to end"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag, kind, default, text in NUMBERS:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the logs, data and ledger of the run"
    )
    parser.add_argument("--rate", type=float, help="workflows/s of the soak (skips the ramp)")
    parser.add_argument("--out", default="", help="directory of the samples (default: "
                        "<HELICASE_HOME>/soak/<UTC time>)")  # fmt: skip
    args = parser.parse_args()
    # The arguments named like a field of SoakOptions go there as they are; the others below.
    named = {f.name for f in fields(SoakOptions)}
    options = SoakOptions(
        **{k: v for k, v in vars(args).items() if k in named},
        flatness=Flatness(max_growth_pct=args.flat_pct, max_growth_mb=args.flat_mb),
        mix=LoadMix(tenants=[f"soak-{chr(ord('a') + i)}" for i in range(args.tenants)]),
        chaos=replace(
            SoakOptions().chaos,  # its shorter sleeps
            seed=args.seed,
            wait_timeout=args.wait,
            keep_home=args.keep_home,
            log=partial(print, flush=True),
        ),
    )
    # Ctrl-C, and a TERM (make's, a CI's), stop everything the run started; SIGINT also when
    # the shell started us in the background with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = asyncio.run(run_soak(options))
    except KeyboardInterrupt:
        print("interrupted: everything the run started is stopped", flush=True)
        return 130
    print(result.render(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""A fuzz run on its own infrastructure and suite (what `make fuzz` runs): ZooKeeper, Kafka and
PostgreSQL on free ports in a fresh home, one suite on them, stopped and removed at the end
whatever happens (an atexit hook is the last safety net)."""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from helicase.devstack._infra import Infra, InfraPorts
from helicase.devstack.fuzz._findings import KnownFinding
from helicase.devstack.fuzz._run import FuzzOptions, FuzzReport, run_fuzz
from helicase.devstack.testing import SuiteFactory, new_home, remove_home


class _Stack:
    def __init__(self, keep_home: bool) -> None:
        self.home = new_home("helicase-fuzz-")
        self.infra = Infra(self.home, InfraPorts.free(), durable=False)
        self.suites = SuiteFactory(self.infra, keep_homes=keep_home)
        self.keep_home = keep_home
        self._closed = False
        atexit.register(self.close)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.suites.close()
        finally:
            try:
                self.infra.stop()
            finally:
                remove_home(self.home, keep=self.keep_home)


async def run_standalone(
    options: FuzzOptions, known: Sequence[KnownFinding] = (), *, keep_home: bool = False
) -> FuzzReport:
    """Starts infrastructure and a suite, fuzzes it (run_fuzz), and stops everything. The homes
    (logs, data) are removed unless `keep_home`, or the run failed: then they are kept for
    diagnosis (a stall seen once is not always seen again)."""
    stack = _Stack(keep_home)
    try:
        options.log(f"starting ZooKeeper, Kafka, PostgreSQL and a suite under {stack.home}")
        await asyncio.to_thread(stack.infra.start)
        suite = await asyncio.to_thread(stack.suites)
        report = await run_fuzz(suite, options, known)
        if not report.ok:
            stack.keep_home = stack.suites.keep_homes = True
            options.log(
                f"the run failed: logs and data kept in {stack.home} and {suite.supervisor.home}"
            )
        return report
    finally:
        await asyncio.to_thread(stack.close)


def known_findings(test_module: Path) -> tuple[KnownFinding, ...]:
    """The KNOWN list of the bounded test's module (one list for both runs)."""
    spec = importlib.util.spec_from_file_location("_fuzz_known", test_module)
    assert spec is not None and spec.loader is not None, test_module
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    known: tuple[KnownFinding, ...] = module.KNOWN
    return known

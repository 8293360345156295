"""A bounded fuzz run against the shared suite (see helicase.devstack.fuzz): requests generated
from the descriptors of every public RPC, garbage bytes over gRPC and Connect, garbage on every
Kafka topic, as a tenant admin and as a viewer. No answer may be UNKNOWN or INTERNAL (except the
KNOWN findings below), no process may exit, a canary workflow of another tenant must still
complete after each batch. `make fuzz` runs the same for much longer on its own suite."""

from __future__ import annotations

from helicase.devstack.fuzz import Budget, FuzzOptions, KnownFinding, run_fuzz
from helicase.devstack.testing import RunningSuite

KNOWN: tuple[KnownFinding, ...] = ()
"""Open defects the fuzzer finds in code another change owns (each names it); emptied as they
are fixed. Everything else it finds fails this test."""


async def test_no_request_gets_unknown_or_internal_nor_stops_anything(
    suite: RunningSuite,
) -> None:
    options = FuzzOptions(
        requests=2000,
        batch=1000,
        kafka_per_topic=10,
        budget=Budget(huge=200_000, many=200, depth=30),
        canary_within=30.0,
        log=print,
    )
    report = await run_fuzz(suite, options, KNOWN)
    print(report.render())
    assert report.tally.total >= options.requests
    assert not report.exits, report.render()
    assert not report.stalls, report.render()
    assert not report.tally.new_findings(), report.render()

"""Fuzzing the public API: requests of every public RPC generated from their descriptors by
Hypothesis, raw garbage bytes as requests (gRPC and Connect), garbage messages on every Kafka
topic, with the invariants checked after each batch (see _run). tests/integration/bounds/
test_fuzz.py runs a bounded batch in `make test`; scripts/fuzz.py (`make fuzz`) a long run on
its own suite."""

from helicase.devstack.fuzz._findings import Finding, KnownFinding, Tally
from helicase.devstack.fuzz._hostile import Budget, Pools
from helicase.devstack.fuzz._jobs import Mix
from helicase.devstack.fuzz._rawbytes import nested
from helicase.devstack.fuzz._run import FuzzOptions, FuzzReport, run_fuzz
from helicase.devstack.fuzz._standalone import known_findings, run_standalone

__all__ = [
    "Budget",
    "Finding",
    "FuzzOptions",
    "FuzzReport",
    "KnownFinding",
    "Mix",
    "Pools",
    "Tally",
    "known_findings",
    "nested",
    "run_fuzz",
    "run_standalone",
]

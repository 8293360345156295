"""Free ports for the test harness: under pytest-xdist each worker hands out ports from a block
of its own, so two workers never start services on the same port."""

from __future__ import annotations

import itertools

import pytest

from helicase.devstack import _proc


def test_each_worker_has_its_own_block_below_the_ephemeral_range() -> None:
    blocks = [_proc.worker_ports(f"gw{i}") for i in range(4)]
    assert all(block is not None for block in blocks)
    spans = [(b.start, b.stop) for b in blocks if b is not None]
    assert all(stop <= start for (_, stop), (start, _) in itertools.pairwise(spans))
    assert (
        spans[0][0] > 9107 and spans[-1][1] <= 32768
    )  # above the local suite's, below the kernel's
    assert _proc.worker_ports("") is None and _proc.worker_ports("master") is None
    with pytest.raises(RuntimeError):
        _proc.worker_ports("gw4")


def test_a_worker_hands_out_distinct_free_ports_from_its_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    block = _proc.worker_ports()
    assert block is not None
    ports = [_proc.free_port() for _ in range(50)]
    assert len(set(ports)) == 50 and all(port in block for port in ports)

"""Fixtures of the bounds tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helicase.devstack import Infra
from helicase.devstack.testing import RunningSuite, SuiteFactory

BIG = 100_000  # tasks: HELICASE_MAX_TASKS' default


@pytest.fixture(scope="package")
def big_suite(infra: Infra) -> Iterator[RunningSuite]:
    """A suite that takes workflows of up to BIG tasks (the shared one takes 2,000), for the
    tests of the biggest legal requests; stopped after the last of them."""
    factory = SuiteFactory(infra)
    try:
        yield factory(max_tasks=BIG)
    finally:
        factory.close()

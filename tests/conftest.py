"""The test harness: real ZooKeeper, Kafka and PostgreSQL on free loopback ports, started once per
run in a fresh home, and isolated Helicase suites on top of them (each with its own ZooKeeper
chroot, topic prefix and database, services on free ports; see helicase.devstack.testing).
Everything started here is stopped, even when a test fails or the run is interrupted; an atexit
hook is the last safety net.

Set HELICASE_KEEP_TEST_HOME=1 to keep the homes (logs, data) for a look after the run.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helicase.devstack import SERVICE_NAMES, Infra, InfraPorts
from helicase.devstack.settings import KEEP_TEST_HOME
from helicase.devstack.testing import (
    FAKE_SERVICE,
    LoopbackCluster,
    RunningSuite,
    SuiteFactory,
    new_home,
    remove_home,
    start_loopback_cluster,
)

INTEGRATION_DIR = Path(__file__).parent / "integration"
# Unit modules that run a tool `make install` brings (buf, node, go, kustomize): `make unit`,
# which installs nothing, deselects them with -m "not tools"; `make test` runs them.
TOOL_MODULES = frozenset(
    {
        "test_contracts.py",
        "test_k8s_manifests.py",
        "test_k8s_policies.py",
        "test_polyglot_codegen.py",
    }
)
# Integration modules that use the `hpc_cluster` fixture (sshd and SLURM on loopback).
HPC_MODULES = frozenset(
    {
        "test_airavata_tasks.py",
        "test_cli_experiments.py",
        "test_experiment_failures.py",
        "test_experiments.py",
        "test_hpc_cluster.py",
    }
)
# Integration modules that burn every core (the hog) or bound a latency under load.
LOAD_MODULES = frozenset(
    {"test_leader_storm.py", "test_memory_limit.py", "test_chaos_small.py", "test_big_request.py"}
)
KEEP_HOMES = KEEP_TEST_HOME.read()


# --- markers, and "nothing ran" is a failure


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)
        elif item.path.name in TOOL_MODULES:
            item.add_marker(pytest.mark.tools)
        item.add_marker(pytest.mark.xdist_group(_group_of(item)))


def _group_of(item: pytest.Item) -> str:
    """The pytest-xdist group an item runs in (`make test` runs two workers, each with its own
    ZooKeeper, Kafka and PostgreSQL): a module's tests stay together (they share module
    fixtures), and the modules that use the loopback SLURM cluster share one worker, so one
    cluster starts; those that burn every core, or bound a latency under load, share one group,
    so no two of them run at once."""
    if item.path.name in HPC_MODULES:
        return "hpc"
    if item.path.name in LOAD_MODULES:
        return "load"
    return str(item.path.relative_to(INTEGRATION_DIR.parent))


_ran = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _ran
    if report.when == "call" or (report.when == "setup" and report.failed):
        _ran += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Nothing collected, everything deselected or skipped: the run proved nothing, so it fails.
    if exitstatus == pytest.ExitCode.OK and _ran == 0 and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


# --- stopping everything, whatever happens

_cleanups: list[Callable[[], None]] = []


@atexit.register
def _run_cleanups() -> None:
    while _cleanups:
        try:
            _cleanups.pop()()
        except Exception as exc:  # keep going: the rest must still be stopped
            print(f"harness cleanup failed: {exc!r}")


def _on_teardown(request: pytest.FixtureRequest, cleanup: Callable[[], None]) -> None:
    """Runs `cleanup` at the fixture's teardown, or at exit if teardown never comes."""
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            cleanup()

    _cleanups.append(once)
    request.addfinalizer(once)


# --- fixtures


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Infra:
    """ZooKeeper, Kafka and PostgreSQL (fsync off) on free ports, shared by the whole run; Kafka
    is killed at the end rather than shut down (its data is removed anyway)."""
    home = new_home("helicase-test-")
    stack = Infra(home, InfraPorts.free(), durable=False)

    def stop() -> None:
        try:
            stack.stop(discard=True)  # its home is removed next
        finally:
            remove_home(home, keep=KEEP_HOMES)

    _on_teardown(request, stop)
    stack.start()
    return stack


@pytest.fixture
def make_suite(request: pytest.FixtureRequest, infra: Infra) -> SuiteFactory:
    """`make_suite(services=None, extra_env=None)` -> RunningSuite in a fresh namespace; its
    services are stopped when the test ends."""
    factory = SuiteFactory(infra, keep_homes=KEEP_HOMES)
    _on_teardown(request, factory.close)
    return factory


@pytest.fixture(scope="session")
def make_shared_suite(request: pytest.FixtureRequest, infra: Infra) -> SuiteFactory:
    """Like `make_suite`, but its suites live until the end of the run."""
    factory = SuiteFactory(infra, keep_homes=KEEP_HOMES)
    _on_teardown(request, factory.close)
    return factory


@pytest.fixture(scope="module")
def make_module_suite(request: pytest.FixtureRequest, infra: Infra) -> SuiteFactory:
    """Like `make_suite`, but its suites live until the end of the test module (a suite kept
    idle to the end of the run still costs CPU: its processes poll and heartbeat)."""
    factory = SuiteFactory(infra, keep_homes=KEEP_HOMES)
    _on_teardown(request, factory.close)
    return factory


@pytest.fixture(scope="session")
def suite(make_shared_suite: SuiteFactory) -> RunningSuite:
    """One full suite shared by the tests that kill nothing."""
    return make_shared_suite()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory a task's process may write whatever account it runs as (like /tmp: a root
    participant's tasks run as an unprivileged user), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="helicase-shared-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def fake_modules() -> dict[str, str]:
    """Every service replaced by the fake health server (for tests of the harness itself)."""
    return dict.fromkeys(SERVICE_NAMES, FAKE_SERVICE)


# --- the loopback HPC cluster (sshd + one-node SLURM) for the airavata task library


@pytest.fixture(scope="session")
def hpc_cluster(request: pytest.FixtureRequest) -> LoopbackCluster:
    """OpenSSH's sshd and a one-node SLURM (munged, slurmctld, slurmd) on free loopback ports,
    in a fresh home, shared by the whole run; see helicase.devstack._hpc."""
    home = new_home("helicase-hpc-")
    cluster = LoopbackCluster(home)

    def stop() -> None:
        try:
            cluster.stop()
        finally:
            remove_home(home, keep=KEEP_HOMES)

    _on_teardown(request, stop)
    return start_loopback_cluster(home, cluster=cluster)

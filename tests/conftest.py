"""Shared fixtures. Prefect runs against an isolated PREFECT_HOME and a temporary SQLite API."""

from __future__ import annotations

import os
import tempfile

# Isolate Prefect before anything imports it: no user profile, no user server, a fresh home.
_PREFECT_HOME = tempfile.mkdtemp(prefix="genja-prefect-test-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
for _name in [n for n in os.environ if n.startswith("GENJA_PREFECT_")]:
    os.environ.pop(_name)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import importlib.util  # noqa: E402

# The device lab's fixtures (fakenos SSH devices, NETCONF and RESTCONF servers on loopback).
if importlib.util.find_spec("genja_prefect.lab") and importlib.util.find_spec("genja_prefect.lab.pytest_plugin"):
    pytest_plugins = ["genja_prefect.lab.pytest_plugin"]


from tests import server_template  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # One migrated Prefect database for the session (tests/server_template.py): the controller
    # makes its directory and starts making it before the xdist workers start (they inherit
    # the directory's name).
    config._genja_db_template = server_template.configure()  # type: ignore[attr-defined]


#: The modules that take longest (wall clock: they wait for Prefect servers, workers, deployment
#: runs and timers more than they compute), longest first, measured on the 2-core CI machine
#: with the README test command. pytest-xdist's ``loadfile`` hands modules to its workers in
#: collection order: started first, their waits overlap the CPU-bound short modules instead of
#: being the run's tail, when little else is left to run beside them.
LONGEST_MODULES = (
    "tests/flows/test_cancel_deployment.py",
    "tests/cli/test_newcomer.py",
    "tests/flows/test_deployment_outage.py",
    "tests/reliability/test_prefect_outages.py",
    "tests/test_packaging.py",
    "tests/flows/test_deployments.py",
    "tests/test_dask.py",
    "tests/test_docs.py",
    "tests/flows/test_deployment_failures.py",
    "tests/flows/test_flows_prefect.py",
    "tests/flows/test_two_workers.py",
    "tests/reliability/test_secrets.py",
    "tests/flows/test_schedules.py",
    "tests/test_prefect_events.py",
    "tests/reliability/test_temporary_server.py",
    "tests/cli/test_cli.py",
    "tests/reliability/test_soak.py",
    "tests/cli/test_demo.py",
    "tests/flows/test_prefect_record.py",
    "tests/flows/test_automations.py",
    "tests/test_prefect_api.py",
    "tests/flows/test_server_databases.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first (:data:`LONGEST_MODULES`); the rest keep their order, and so
    do the tests inside every module."""
    rank = {module: i for i, module in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_unconfigure(config: pytest.Config) -> None:
    server_template.cleanup(getattr(config, "_genja_db_template", None))


@pytest.fixture(scope="session", autouse=True)
def _migrated_prefect_home() -> None:
    """The tests' PREFECT_HOME gets the session's migrated database once it is made: each CLI
    or job a test runs without PREFECT_API_URL starts its temporary server there, and the
    first of them in each process would otherwise spend ~10 s of CPU on migrations. In the
    background: a run of a few quick tests does not wait for it."""
    server_template.seed_home_in_background(Path(_PREFECT_HOME))


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect API (SQLite, subprocess server on 127.0.0.1) for the whole session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing import utilities
    from prefect.testing.utilities import prefect_test_harness

    from genja_prefect.ports import free_listen_port

    # The harness takes a bind(0) port and its server listens on it ~10 s later; with the suite
    # in three processes another one's connection or server took it meanwhile (the harness's
    # health check then failed with "Server disconnected"). A port below the ephemeral range.
    utilities._find_available_port = free_listen_port  # type: ignore[attr-defined]
    # The harness puts its database in a new mkdtemp() directory: give that directory the
    # session's migrated database (tests/server_template.py), so this worker's API skips the
    # migrations (~10 s of CPU). Everything else about the harness is Prefect's own.
    make_directory = utilities.mkdtemp  # type: ignore[attr-defined]

    def seeded_directory() -> str:
        directory = make_directory()
        server_template.seed(Path(directory) / "prefect-test.db")
        return directory

    utilities.mkdtemp = seeded_directory  # type: ignore[attr-defined]
    with prefect_test_harness(server_startup_timeout=120):
        utilities.mkdtemp = make_directory  # type: ignore[attr-defined]
        yield str(PREFECT_API_URL.value())
        # The harness drains Prefect's client workers at its end without a time limit; anything
        # a test left for a server that is gone would be retried for minutes. Bounded here.
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        EventsWorker.drain_all(timeout=60)
        APILogWorker.drain_all(timeout=60)


@pytest.fixture
def no_prefect() -> dict[str, dict[str, bool]]:
    """Settings overrides that run the engine without Prefect (pure logic tests)."""
    return {"prefect": {"enabled": False}}

# Fault endpoints (closed port, silent server) shared by the plugin and reliability tests.
from tests.fault_endpoints import closed_port, silent_server  # noqa: E402,F401

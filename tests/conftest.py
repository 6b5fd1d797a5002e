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

import pytest  # noqa: E402

import importlib.util  # noqa: E402

# The device lab's fixtures (fakenos SSH devices, NETCONF and RESTCONF servers on loopback).
if importlib.util.find_spec("genja_prefect.lab") and importlib.util.find_spec("genja_prefect.lab.pytest_plugin"):
    pytest_plugins = ["genja_prefect.lab.pytest_plugin"]


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
    with prefect_test_harness(server_startup_timeout=120):
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

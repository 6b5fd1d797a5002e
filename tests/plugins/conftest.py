"""Fixtures for the first-party connection plugin tests.

The shared ``lab`` fixture (genja_prefect.lab.pytest_plugin) is used read-only here: other
test modules share it for the whole session. Tests that change a device (config, NETCONF
edits, RESTCONF writes) or turn its fault knobs start their own servers in this file's
fixtures, which stop them again whatever the outcome.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.fault_endpoints import SilentServer  # noqa: F401 - re-exported for the tests here
from tests.process_probe import child_processes, open_fds, os_threads  # noqa: F401 - re-exported

import genja_prefect
from genja_prefect import Genja, PluginManager

NO_PREFECT = {"prefect": {"enabled": False}}
#: One connection attempt: failure tests should see the plugin's classification, fast.
ONE_ATTEMPT = {"prefect": {"enabled": False}, "runner": {"max_connection_attempts": 1}}


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with the installed plugins already discovered.

    Discovery is forced here, before any worker thread asks for a plugin: see the report on
    ``PluginManager._ensure_discovered`` (concurrent first lookups can fail).
    """
    manager = PluginManager()
    manager.plugins("connection")
    return manager


def make_genja(
    hosts: Mapping[str, Any], plugin_manager: PluginManager, settings: Mapping[str, Any] | None = None
) -> Genja:
    """A runtime over ``hosts`` that runs without Prefect."""
    return genja_prefect.Genja.from_hosts(
        dict(hosts), settings=dict(settings or NO_PREFECT), plugin_manager=plugin_manager
    )


def ssh_host(port: int, platform: str, password: str, username: str = "admin", **extras: Any) -> dict[str, Any]:
    """An inventory entry for an SSH CLI device on 127.0.0.1 (host key not checked)."""
    return {
        "hostname": "127.0.0.1",
        "port": port,
        "platform": platform,
        "username": username,
        "password": password,
        "connection_options": {"scrapli": {"extras": {"auth_strict_key": False, **extras}}},
    }

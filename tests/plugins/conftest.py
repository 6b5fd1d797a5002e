"""Fixtures for the first-party connection plugin tests.

The shared ``lab`` fixture (genja_prefect.lab.pytest_plugin) is used read-only here: other
test modules share it for the whole session. Tests that change a device (config, NETCONF
edits, RESTCONF writes) or turn its fault knobs start their own servers in this file's
fixtures, which stop them again whatever the outcome.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

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


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound and released again, never listened on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentServer:
    """A TCP server that accepts connections and never says anything (a hung device)."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.1)
        self.port = int(self._server.getsockname()[1])
        self._accepted: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            with self._lock:
                self._accepted.append(conn)

    def drop_accepted(self) -> None:
        """Close the server side of every connection accepted so far."""
        with self._lock:
            accepted, self._accepted = self._accepted, []
        for conn in accepted:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.drop_accepted()
        self._server.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A hung device: TCP accepts, then silence. Stopped after the test."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.stop()


def os_threads() -> int:
    """OS threads of this process (libscrapli's threads are invisible to ``threading``)."""
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> list[str]:
    """Command lines of this process's children (the bin transport runs ``ssh``)."""
    children = []
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if fields[1] == me:
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    children.append(cmd.read().replace(b"\0", b" ").decode().strip())
        except (OSError, IndexError):
            continue
    return children

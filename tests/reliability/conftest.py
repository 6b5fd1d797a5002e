"""Fixtures and probes for the reliability tests (issue 6: fault matrix, soak, secret hygiene).

Everything here runs on 127.0.0.1. The lab of this package (``rel_lab``) is private to it, so
its fault knobs may be turned (``sim_device`` resets them after each test). Leaks are counted
from the outside, the way an operator would see them:

- ``tcp_to(ports)``: client-side TCP sockets to the device ports that are still connecting, ESTABLISHED
  or in CLOSE_WAIT (read from /proc/net/tcp, so the ``ssh`` children of scrapli's bin
  transport count too);
- the simulator's own count of live SSH connections per device;
- OS threads, open file descriptors and child processes of this process.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest

from tests.fault_endpoints import SilentServer  # noqa: F401 - re-exported for the tests here
from tests.process_probe import child_processes, open_fds, os_threads, wait_for  # noqa: F401 - re-exported

import genja_prefect
from genja_prefect import Genja, PluginManager
from genja_prefect.lab.lab import Lab
from genja_prefect.results import TaskResults
from genja_prefect.runner import RunnerPluginBase

#: The password of ``rel_lab`` (user ``admin``); secret-hygiene tests use their own.
REL_PASSWORD = "rel-lab-Pw-7c1e"
NO_PREFECT: dict[str, Any] = {"prefect": {"enabled": False}}
#: Prefect off, one connection attempt: a failure test sees the plugin's classification at once.
ONE_ATTEMPT: dict[str, Any] = {"prefect": {"enabled": False}, "runner": {"max_connection_attempts": 1}}


# -- the lab ------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def rel_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Simulated ios ``sim-ios1..6`` and eos ``sim-eos1``, ``netconf1``, ``api1``; stopped at the end."""
    with Lab(sim=6, sim_eos=1, netconf=1, http=1, password=REL_PASSWORD,
             directory=tmp_path_factory.mktemp("rel-lab")) as lab:
        yield lab


@pytest.fixture
def sim_device(rel_lab: Lab) -> Iterator[Callable[[str], Any]]:
    """``sim_device(name)``: a simulated device whose fault knobs are reset after the test."""
    used: list[Any] = []

    def get(name: str) -> Any:
        device = rel_lab.simulator.device(name)
        used.append(device)
        return device

    yield get
    for device in used:
        device.delay_s, device.fail_auth, device.drop_on = 0.0, False, None


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh manager with the installed plugins discovered before any worker thread asks."""
    manager = PluginManager()
    manager.plugins("connection")
    return manager


def ssh_host(port: int, platform: str = "ios", password: str = REL_PASSWORD, *, hostname: str = "127.0.0.1",
             username: str = "admin", **extras: Any) -> dict[str, Any]:
    """An inventory entry for an SSH CLI device (scrapli, host key not checked)."""
    return {
        "hostname": hostname, "port": port, "platform": platform, "username": username, "password": password,
        "connection_options": {"scrapli": {"extras": {"auth_strict_key": False, **extras}}},
    }


def netconf_host(port: int, password: str = REL_PASSWORD, *, hostname: str = "127.0.0.1", **extras: Any) -> dict[str, Any]:
    """An inventory entry for a NETCONF server (ncclient, generic handler, host key not checked)."""
    return {
        "hostname": hostname, "platform": "netconf", "username": "admin", "password": password,
        "connection_options": {"ncclient": {"port": port, "platform": "default",
                                            "extras": {"hostkey_verify": False, **extras}}},
    }


def restconf_host(port: int, password: str = REL_PASSWORD, *, hostname: str = "127.0.0.1", **extras: Any) -> dict[str, Any]:
    """An inventory entry for a RESTCONF server over plain HTTP."""
    return {
        "hostname": hostname, "platform": "restconf", "username": "admin", "password": password,
        "connection_options": {"restconf": {"port": port, "extras": {"scheme": "http", **extras}}},
    }


def lab_ssh(lab: Lab, name: str, password: str = REL_PASSWORD, **extras: Any) -> dict[str, Any]:
    host = lab.host(name)
    return ssh_host(host.port, host.platform, password, **extras)


def make_genja(hosts: Mapping[str, Any], plugin_manager: PluginManager,
               settings: Mapping[str, Any] | None = None) -> Genja:
    """A runtime over ``hosts`` (Prefect off unless ``settings`` say otherwise)."""
    return genja_prefect.Genja.from_hosts(dict(hosts), settings=dict(settings or NO_PREFECT),
                                          plugin_manager=plugin_manager)


def one_result_per_host(results: TaskResults, host_ids: Iterable[str]) -> None:
    """Exactly one result per selected host, and none for anyone else."""
    assert sorted(results.hosts) == sorted(host_ids), (sorted(results.hosts), sorted(host_ids))


# -- unreachable endpoints ------------------------------------------------------------------


class FullBacklog:
    """A listener that never accepts, its backlog filled: new SYNs go unanswered."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(0)
        self.port = int(self._server.getsockname()[1])
        self._fillers: list[socket.socket] = []
        # Linux queues backlog+1 completed connections; a few more make sure it is full.
        for _ in range(4):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(sock)
        time.sleep(0.2)

    def stop(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._server.close()


@pytest.fixture
def full_backlog() -> Iterator[FullBacklog]:
    listener = FullBacklog()
    try:
        yield listener
    finally:
        listener.stop()


# -- leak probes ----------------------------------------------------------------------------
_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "08": "CLOSE_WAIT"}


def tcp_to(ports: Iterable[int]) -> list[tuple[int, int, str]]:
    """Client-side loopback TCP sockets to ``ports`` still connecting, ESTABLISHED or in CLOSE_WAIT:
    (local port, remote port, state), for every process of this network namespace."""
    wanted = set(ports)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state = fields[3]
            if remote_port in wanted and local_port not in wanted and state in _TCP_STATES:
                found.append((local_port, remote_port, _TCP_STATES[state]))
    return found


def _fd_targets() -> list[str]:
    """What this process's file descriptors point at (sockets, pipes, files): for the message."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return sorted(targets)


class LeakProbe:
    """Snapshot before a run; :meth:`assert_clean` after it: no connection to ``ports`` left,
    no extra ssh child, threads and fds back to (at most) where they were."""

    def __init__(self, ports: Iterable[int], lab: Lab | None = None, devices: Iterable[str] = (),
                 check_threads: bool = True) -> None:
        self.ports = set(ports)
        self.lab = lab
        self.devices = list(devices)
        self.check_threads = check_threads
        # Connections that exist already (e.g. a backlog filler) are not the run's to close.
        self.tcp_before = set(tcp_to(self.ports))
        self.threads, self.fds, self.children = os_threads(), open_fds(), len(child_processes())

    def _server_side(self) -> int:
        if self.lab is None:
            return 0
        return sum(self.lab.simulator.connection_count(name) for name in self.devices)

    def new_tcp(self) -> list[tuple[int, int, str]]:
        return [c for c in tcp_to(self.ports) if c not in self.tcp_before]

    def snapshot(self) -> dict[str, Any]:
        return {"tcp": self.new_tcp(), "server_side": self._server_side(), "threads": os_threads(),
                "fds": open_fds(), "children": child_processes(), "fd_targets": _fd_targets()}

    def clean(self) -> bool:
        # Third-party libraries free some selectors (epoll fds) only when their reference
        # cycles are collected: that is not a leak, so collect before counting.
        gc.collect()
        if self.new_tcp() or self._server_side() or len(child_processes()) > self.children:
            return False
        return not self.check_threads or (os_threads() <= self.threads and open_fds() <= self.fds)

    def assert_clean(self, timeout: float = 60.0) -> None:
        # Generous: on a loaded machine this process's other threads (Prefect's log and event
        # workers flushing an earlier test's record) hold a connection for a while.
        assert wait_for(self.clean, timeout), (
            f"leak: before threads={self.threads} fds={self.fds} children={self.children}; after {self.snapshot()}"
        )


# -- a runner plugin that breaks after opening real sessions ----------------------------------
class ExplodingRunner(RunnerPluginBase):
    """Opens each host's scrapli session through the run's resolver, then raises."""

    name = "exploding"

    def run_task(self, task: Any, hosts: Any, connection_resolver: Any, runner_config: Any, max_depth: Any) -> Any:
        for host_id in hosts:
            connection_resolver.get_connection(host_id, "scrapli").execute_command("show version")
        raise RuntimeError("runner exploded after opening sessions")

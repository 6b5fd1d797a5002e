"""A gated loopback TCP relay in front of a lab device, for tests that need hosts held in flight.

:class:`GatedRelay` listens on a free 127.0.0.1 port and forwards each connection to the device's
port once its :class:`Gate` is released. Until then the connection is held: accepted (the client's
connect succeeded, its SSH session is opening) but not forwarded, so the device never sees it.
While holding, the relay reads what the client sends (and forwards it after the release), so it
notices at once when a held client goes away. ``open_connections`` counts the connections whose
client has not closed its end yet: what the device side would see as still open.

Every hold is bounded (``hold_timeout``): a connection never released is closed then. After
:meth:`Gate.slow_down` the gate lets each connection through a fixed time after it arrived
(counted from the call at the earliest): a device that answers slowly, not one that hangs.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from genja_prefect.lab.lab_inventory import LabHost, inventory_documents

#: The longest a connection is held before the relay closes it. Generous: on a loaded 2-core
#: machine the second run of a test can reach its device minutes after the first one.
HOLD_TIMEOUT_S = 300.0


class Gate:
    """Holds connections, counted per group, until :meth:`release` (or :meth:`close`, or for a
    while after :meth:`slow_down`)."""

    def __init__(self, groups: Iterable[str]) -> None:
        self.arrived = dict.fromkeys(groups, 0)
        self._state = "holding"
        self._cond = threading.Condition()
        self._slow: tuple[float, float] | None = None  # (since, delay) once slowed down

    @property
    def state(self) -> str:
        """``holding``, ``open`` (released) or ``closed`` (refusing)."""
        return self._state

    def arrive(self, group: str) -> None:
        """Count a new connection of ``group``."""
        with self._cond:
            self.arrived[group] += 1
            self._cond.notify_all()

    def wait_for_arrivals(self, done: Callable[[dict[str, int]], bool], timeout: float) -> bool:
        """True once ``done(arrived)`` holds (arrived: group -> connections held or passed)."""
        with self._cond:
            return self._cond.wait_for(lambda: done(self.arrived), timeout)

    def wait_for_every_group(self, timeout: float) -> bool:
        """True once every group has at least one connection (held or passed)."""
        return self.wait_for_arrivals(lambda arrived: all(arrived.values()), timeout)

    def release(self) -> None:
        """Let every held and future connection through."""
        with self._cond:
            if self._state == "holding":
                self._state = "open"
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse every held and future connection (a release that never came)."""
        with self._cond:
            if self._state == "holding":
                self._state = "closed"
            self._cond.notify_all()

    def passes(self, arrived: float) -> bool:
        """Whether a connection held since ``arrived`` (``time.monotonic()``) may go through now."""
        if self._state != "holding":
            return self._state == "open"
        slow = self._slow
        return slow is not None and time.monotonic() >= max(arrived, slow[0]) + slow[1]

    def slow_down(self, delay: float) -> None:
        """From now on let each connection through ``delay`` s after it arrived, or after now for
        those held already."""
        with self._cond:
            self._slow = (time.monotonic(), delay)


class GatedRelay:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:upstream_port whose connections pass ``gate``."""

    def __init__(self, upstream_port: int, group: str, gate: Gate, hold_timeout: float = HOLD_TIMEOUT_S) -> None:
        self.upstream_port, self.group, self.gate, self.hold_timeout = upstream_port, group, gate, hold_timeout
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._open = 0
        self._held = 0
        self._stopping = threading.Event()
        self._start(self._accept)

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed by the client (held ones included)."""
        with self._lock:
            return self._open

    @property
    def held_connections(self) -> int:
        """Client connections waiting at the gate now."""
        with self._lock:
            return self._held

    def _count(self, name: str, delta: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + delta)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"relay-{self.port}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            self._sockets.append(sock)
            return not self._stopping.is_set()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self._track(client):
                self._start(self._serve, client)

    def _hold(self, client: socket.socket) -> bytes | None:
        """Wait at the gate, buffering what the client sends; None when the client went away,
        the gate closed or the hold timed out."""
        self.gate.arrive(self.group)
        self._count("_held", 1)
        buffered = bytearray()
        arrived = time.monotonic()
        poller = select.poll()  # not select(): fine with file descriptors above 1023
        poller.register(client, select.POLLIN)
        try:
            while not self.gate.passes(arrived):
                if self.gate.state == "closed" or self._stopping.is_set():
                    return None
                if time.monotonic() - arrived > self.hold_timeout:
                    return None
                try:
                    if poller.poll(200):
                        data = client.recv(65536)
                        if not data:
                            return None  # the client closed its end while held
                        buffered += data
                except OSError:
                    return None
            return bytes(buffered)
        finally:
            self._count("_held", -1)

    def _serve(self, client: socket.socket) -> None:
        self._count("_open", 1)
        try:
            early = self._hold(client)
            if early is None:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)
                upstream.sendall(early)
            except OSError:
                return
            if self._track(upstream):
                self._start(self._pipe, upstream, client)
                self._pipe(client, upstream)  # returns when the client closes its end
        finally:
            self._count("_open", -1)
            try:
                client.close()
            except OSError:
                pass

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in threads:
            thread.join(timeout=5)


def gated_inventory(directory: Path, hosts: list[LabHost], username: str, password: str,
                    timeout_open: float) -> str:
    """Write the lab inventory for ``hosts`` (each at its relay's port) into ``directory`` with
    scrapli's open timeout set to ``timeout_open`` (longer than a hold, so a held host waits
    for the gate instead of failing); returns the settings.yaml path."""
    documents = inventory_documents(hosts, username=username, password=password)
    for entry in documents["hosts.yaml"].values():
        entry["connection_options"]["scrapli"]["extras"]["timeout_open"] = timeout_open
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (directory / name).write_text(yaml.safe_dump(document, sort_keys=False))
    return str(directory / "settings.yaml")

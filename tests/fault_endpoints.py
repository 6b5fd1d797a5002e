"""Loopback fault endpoints for connection tests: a port nobody listens on, and a server that
accepts TCP connections and never speaks (a hung device)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on, below the ephemeral range: a bind(0) port would be
    handed to another test process's device or relay while this one still connects to it."""
    from genja_prefect.ports import free_listen_port

    return free_listen_port()


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

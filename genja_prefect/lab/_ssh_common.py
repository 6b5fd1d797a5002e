"""Pieces shared by the asyncssh-based lab servers (CLI simulator, NETCONF)."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Any

import asyncssh

_key_lock = threading.Lock()
_host_key: asyncssh.SSHKey | None = None


def lab_host_key() -> asyncssh.SSHKey:
    """One Ed25519 host key per process (generating one takes well under a millisecond, but
    sharing it keeps every lab server's fingerprint the same, which is all a lab needs)."""
    global _host_key
    with _key_lock:
        if _host_key is None:
            _host_key = asyncssh.generate_private_key("ssh-ed25519")
        return _host_key


class PasswordServer(asyncssh.SSHServer):
    """An SSH server that accepts one username/password pair and tracks its connections.

    Each SSH session request gets a fresh handler from ``session()``; with ``binary`` its
    channel carries bytes instead of text (NETCONF chunk sizes count octets).
    ``reject_all`` is read at login time, so a test can flip it on a running server.
    ``on_connect``/``on_disconnect`` let the owner keep a set of live connections (to drop them
    on purpose, or to close them on stop).
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        session: Callable[[], Any],
        binary: bool = False,
        reject_all: Callable[[], bool] = lambda: False,
        on_connect: Callable[[asyncssh.SSHServerConnection], None] | None = None,
        on_disconnect: Callable[[asyncssh.SSHServerConnection], None] | None = None,
    ) -> None:
        self._username = username
        self._password = password
        self._session = session
        self._binary = binary
        self._reject_all = reject_all
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        if self._on_connect is not None:
            self._on_connect(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._on_disconnect is not None and self._conn is not None:
            self._on_disconnect(self._conn)
        self._conn = None

    def begin_auth(self, username: str) -> bool:
        return True  # always require authentication

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self._reject_all():
            return False
        # compare_digest: no timing oracle, even on a lab box
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        pass_ok = hmac.compare_digest(password.encode(), self._password.encode())
        return user_ok and pass_ok

    def session_requested(self) -> Any:
        if self._binary and self._conn is not None:
            return self._conn.create_server_channel(encoding=None), self._session()
        return self._session()

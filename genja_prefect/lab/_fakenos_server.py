"""fakenos's paramiko SSH server, adjusted for a lab with hundreds of devices.

Three changes, each measured on fakenos 1.2.1:

- The host key is parsed once per process. fakenos parses its RSA key for every device, and
  OpenSSL's key validation takes ~75 ms each: 15 s of a 200-device start.
- The listener binds without ``SO_REUSEPORT``, so a port collision with another process fails
  loudly at bind time instead of two servers silently sharing a port.
- The socket listens as soon as :meth:`start` returns (fakenos calls ``listen()`` later, in its
  accept thread), and a client that hangs up during the SSH handshake (a port probe) is logged
  at debug level instead of printing a thread traceback.
- :meth:`stop` shuts the listening socket down, which wakes the accept loop at once; fakenos
  only closes it and then waits out the accept timeout (1 s per device).
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from typing import Any

import paramiko
from fakenos.core.nos import Nos
from fakenos.plugins.servers.ssh_server_paramiko import DEFAULT_SSH_KEY, ParamikoSshServer

log = logging.getLogger(__name__)

_key_lock = threading.Lock()
_shared_key: paramiko.RSAKey | None = None


def shared_host_key() -> paramiko.RSAKey:
    """fakenos's default RSA host key, parsed once per process."""
    global _shared_key
    with _key_lock:
        if _shared_key is None:
            _shared_key = paramiko.RSAKey(file_obj=io.StringIO(DEFAULT_SSH_KEY))
        return _shared_key


class LabParamikoSshServer(ParamikoSshServer):  # type: ignore[misc]  # fakenos is untyped
    """Drop-in replacement for fakenos's ``ParamikoSshServer`` (same constructor)."""

    # Set by fakenos's TCPServerBase; declared for the type checker.
    _socket: socket.socket | None
    _listen_thread: threading.Thread | None
    _connection_threads: list[threading.Thread]

    def __init__(
        self,
        shell: type,
        nos: Nos,
        nos_inventory_config: dict[str, Any],
        port: int,
        username: str,
        password: str,
        ssh_key_file: str | None = None,
        ssh_key_file_password: str | None = None,
        ssh_banner: str = "FakeNOS Paramiko SSH Server",
        shell_configuration: dict[str, Any] | None = None,
        address: str = "127.0.0.1",
        timeout: int = 1,
        watchdog_interval: float = 1,
    ) -> None:
        # The parent's __init__ would parse the key again; set the same attributes it sets
        # (tests/lab compares the attribute names with a real ParamikoSshServer).
        super(ParamikoSshServer, self).__init__()
        self.nos = nos
        self.nos_inventory_config = nos_inventory_config
        self.shell = shell
        self.shell_configuration = shell_configuration or {}
        self.ssh_banner = ssh_banner
        self.username = username
        self.password = password
        self.port = port
        self.address = address
        self.timeout = timeout
        self.watchdog_interval = watchdog_interval
        self._active_sessions: set[paramiko.Transport] = set()
        self._active_sessions_lock = threading.Lock()
        if ssh_key_file:
            self._ssh_server_key = paramiko.RSAKey.from_private_key_file(ssh_key_file, ssh_key_file_password)
        else:
            self._ssh_server_key = shared_host_key()

    def _bind_sockets(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            listener.settimeout(self.timeout)
            listener.bind((self.address, self.port))
            listener.listen()
        except OSError:
            listener.close()
            raise
        self._socket = listener

    def _listen(self) -> None:
        """fakenos's accept loop, with daemon connection threads.

        A client that authenticates but never opens a channel (a probe, a timeout test) leaves
        its thread in paramiko's ``Transport.accept()``, which waits without a timeout and is
        not woken by closing the transport. fakenos starts those threads non-daemon, so one
        such thread kept the whole test process from exiting after the last test.
        """
        listener = self._socket
        if listener is None:
            return
        listener.listen()
        while self._is_running.is_set():
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._is_running.is_set():
                    log.exception("TCP server listener stopped after a socket error")
                break
            thread = threading.Thread(
                target=self.connection_function, args=(client, self._is_running), daemon=True
            )
            thread.start()
            self._connection_threads.append(thread)

    def connection_function(self, client: socket.socket, is_running: threading.Event) -> None:
        try:
            super().connection_function(client, is_running)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.debug("fakenos device on port %s: client went away: %s", self.port, exc)
        except AttributeError as exc:
            # fakenos calls channel.makefile() on the None that paramiko's accept() returns when
            # the client failed to log in or left before opening a channel.
            log.debug("fakenos device on port %s: no channel opened: %s", self.port, exc)

    def stop(self) -> None:
        """Stop accepting, close live sessions and join the server's threads (bounded)."""
        if not self._is_running.is_set():
            return
        deadline = time.monotonic() + self._get_shutdown_timeout()
        self._is_running.clear()
        listener = self._socket
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # not connected/listening any more: nothing to wake
            listener.close()
        self._close_active_connections()
        if self._listen_thread is not None:
            self._listen_thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if not self._listen_thread.is_alive():
                self._listen_thread = None
        for thread in self._connection_threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._connection_threads = [t for t in self._connection_threads if t.is_alive()]
        self._socket = None

"""A free loopback TCP port for a server this project starts a moment later.

``bind(("127.0.0.1", 0))`` hands out a port from the kernel's ephemeral range, the same range
every outgoing connection and every other ``bind(0)`` draws from. A port picked that way and
released for a server that binds it seconds later (a Prefect server imports for 5-10 s before
it listens) can meanwhile go to a device connection or another process's server: the server
then fails to start, or a health check talks to somebody else. Ports below the ephemeral range
are handed out only on request, so a port picked there stays free in practice.

Example::

    from genja_prefect.ports import free_listen_port

    port = free_listen_port()   # e.g. 23817, free on 127.0.0.1 at this moment
"""

from __future__ import annotations

import random
import socket

__all__ = ["free_listen_port"]

#: Ports below this are never handed out by bind(0) or connect() unless the kernel's range says so.
_FLOOR = 20000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; other systems use 49152


def free_listen_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port free on ``host`` now, outside the ephemeral range where possible (random, so two
    processes picking at the same moment rarely pick the same one)."""
    low = _ephemeral_low()
    for _ in range(attempts if low - _FLOOR > 1000 else 0):
        port = random.randrange(_FLOOR, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no room below: any free port
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

"""Port allocation: unique within the process, and free of other listeners."""

from __future__ import annotations

import socket

from genja_prefect.lab.ports import allocate_port, bind_listener, port_accepts, release_port


def test_allocated_ports_are_unique_and_bindable_without_reuse_flags() -> None:
    ports = [allocate_port() for _ in range(50)]
    try:
        assert len(set(ports)) == 50
        for port in ports[:5]:
            with socket.socket() as sock:  # no SO_REUSEADDR/SO_REUSEPORT: fails if anyone holds it
                sock.bind(("127.0.0.1", port))
    finally:
        for port in ports:
            release_port(port)


def test_bound_listener_blocks_allocation_of_its_port() -> None:
    sock = bind_listener()
    try:
        sock.listen()
        port = sock.getsockname()[1]
        assert port_accepts(port)
        allocated = [allocate_port() for _ in range(20)]
        assert port not in allocated
        for p in allocated:
            release_port(p)
    finally:
        sock.close()
        release_port(port)
    assert not port_accepts(port)

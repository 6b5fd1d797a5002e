"""A small RESTCONF-style HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer``).

Basic auth; JSON (``application/yang-data+json``) resources under ``/restconf/data`` from a
stored datastore with two modules: ``ietf-interfaces:interfaces`` (list ``interface`` keyed by
``name``) and ``ietf-system:system``. GET, PUT (create 201 / replace 204), PATCH (merge, 204),
DELETE (204). Wrong credentials get 401, unknown paths 404, with RFC 8040 error bodies.
Example::

    with RestconfServer(username="admin", password="admin") as api:
        httpx.get(f"{api.base_url}/restconf/data/ietf-system:system/hostname",
                  auth=("admin", "admin")).json()
        # {"ietf-system:hostname": "api1"}

Accepted sockets get ``TCP_NODELAY``: without it each small response waits ~40 ms for
Nagle's algorithm and the client's delayed ACK.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from genja_prefect.lab._service import LabService
from genja_prefect.lab.ports import LOOPBACK

log = logging.getLogger(__name__)

JSON_TYPE = "application/yang-data+json"
DATA_ROOT = "/restconf/data"
MODULES = ("ietf-interfaces", "ietf-system")


class RestconfError(Exception):
    """An error answered with an RFC 8040 ``ietf-restconf:errors`` body."""

    def __init__(self, status: int, tag: str, message: str, error_type: str = "protocol") -> None:
        super().__init__(message)
        self.status, self.tag, self.message, self.error_type = status, tag, message, error_type

    def body(self) -> dict[str, Any]:
        error = {"error-type": self.error_type, "error-tag": self.tag, "error-message": self.message}
        return {"ietf-restconf:errors": {"error": [error]}}


def initial_data(hostname: str) -> dict[str, Any]:
    """The datastore a new server starts with."""
    interfaces = [
        {"name": "eth0", "description": "uplink", "type": "iana-if-type:ethernetCsmacd", "enabled": True},
        {"name": "eth1", "type": "iana-if-type:ethernetCsmacd", "enabled": False},
        {"name": "lo0", "description": "loopback", "type": "iana-if-type:softwareLoopback", "enabled": True},
    ]
    return {
        "ietf-interfaces:interfaces": {"interface": interfaces},
        "ietf-system:system": {"hostname": hostname, "location": "lab"},
    }


def _split_path(path: str) -> list[tuple[str, str | None]]:
    """``ietf-interfaces:interfaces/interface=eth0`` -> [(name, None), (name, key)]."""
    segments = []
    for raw in path.strip("/").split("/"):
        name, sep, key = raw.partition("=")
        segments.append((unquote(name), unquote(key) if sep else None))
    return segments


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 8040 plain-patch merge: containers recurse, list entries merge by ``name``."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            existing = {e.get("name"): e for e in target[key] if isinstance(e, dict)}
            for entry in value:
                if isinstance(entry, dict) and entry.get("name") in existing:
                    _merge(existing[entry["name"]], entry)
                else:
                    target[key].append(copy.deepcopy(entry))
        else:
            target[key] = copy.deepcopy(value)


class Datastore:
    """The server's JSON tree, addressed by RESTCONF paths; thread-safe."""

    def __init__(self, hostname: str) -> None:
        self.data = initial_data(hostname)
        self.lock = threading.Lock()

    def _locate(self, path: str) -> tuple[Any, str | int, str]:
        """(parent container/list, key or index in it, qualified name) of an existing or new node."""
        segments = _split_path(path)
        top, key = segments[0]
        module = top.split(":", 1)[0]
        if ":" not in top or module not in MODULES or key is not None:
            raise RestconfError(404, "invalid-value", f"unknown resource {top!r}")
        parent: Any = self.data
        slot: str | int = top
        for index, (name, key) in enumerate(segments):
            if index > 0:
                if isinstance(parent, dict) and slot not in parent:
                    raise RestconfError(404, "invalid-value", f"{path!r} does not exist")
                node = parent[slot]
                if not isinstance(node, dict):
                    raise RestconfError(404, "invalid-value", f"{name!r} is below a leaf")
                parent, slot = node, name.split(":", 1)[-1]
            if key is None:
                continue
            entries = parent.get(slot) if isinstance(parent, dict) else None
            if not isinstance(entries, list):
                raise RestconfError(404, "invalid-value", f"{name!r} is not a list")
            position = next((i for i, e in enumerate(entries) if str(e.get("name")) == key), None)
            if position is None:
                if index == len(segments) - 1:
                    return entries, -1, f"{module}:{name.split(':', 1)[-1]}"
                raise RestconfError(404, "invalid-value", f"no {name} entry {key!r}")
            parent, slot = entries, position
        return parent, slot, f"{module}:{segments[-1][0].split(':', 1)[-1]}"

    def get(self, path: str) -> dict[str, Any]:
        """The resource at ``path`` wrapped in its qualified name (404 if absent)."""
        with self.lock:
            if not path.strip("/"):
                return {"ietf-restconf:data": copy.deepcopy(self.data)}
            parent, slot, qname = self._locate(path)
            if slot == -1 or (isinstance(parent, dict) and slot not in parent):
                raise RestconfError(404, "invalid-value", f"{path!r} does not exist")
            value = copy.deepcopy(parent[slot])
            return {qname: [value] if isinstance(parent, list) else value}

    def put(self, path: str, body: dict[str, Any]) -> bool:
        """Create or replace the resource; True if it was created."""
        with self.lock:
            parent, slot, qname = self._locate(path)
            value = self._unwrap(body, qname, parent)
            if isinstance(parent, list):
                key = _split_path(path)[-1][1]
                if str(value.get("name")) != key:
                    raise RestconfError(
                        400, "invalid-value", f"key in body {value.get('name')!r} != key in URI {key!r}"
                    )
                if slot == -1:
                    parent.append(value)
                    return True
                parent[int(slot)] = value
                return False
            created = slot not in parent
            parent[slot] = value
            return created

    def patch(self, path: str, body: dict[str, Any]) -> None:
        """Merge ``body`` into the existing resource (404 if absent)."""
        with self.lock:
            parent, slot, qname = self._locate(path)
            if slot == -1 or (isinstance(parent, dict) and slot not in parent):
                raise RestconfError(404, "invalid-value", f"{path!r} does not exist")
            value = self._unwrap(body, qname, parent)
            if isinstance(parent[slot], dict) and isinstance(value, dict):
                _merge(parent[slot], value)
            else:
                parent[slot] = value

    def delete(self, path: str) -> None:
        """Remove the resource (404 if absent)."""
        with self.lock:
            parent, slot, _ = self._locate(path)
            if slot == -1 or (isinstance(parent, dict) and slot not in parent):
                raise RestconfError(404, "invalid-value", f"{path!r} does not exist")
            del parent[slot]

    @staticmethod
    def _unwrap(body: dict[str, Any], qname: str, parent: Any) -> Any:
        local = qname.split(":", 1)[1]
        if not isinstance(body, dict) or len(body) != 1:
            raise RestconfError(400, "malformed-message", f"body must be one member named {qname!r}")
        ((name, value),) = body.items()
        if name not in (qname, local):
            raise RestconfError(400, "malformed-message", f"body member {name!r} does not match {qname!r}")
        if isinstance(parent, list):
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, dict):
                raise RestconfError(400, "malformed-message", "a list entry must be an object")
        return copy.deepcopy(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real RESTCONF servers
    server: _Server
    timeout = 30  # an idle keep-alive connection frees its thread after this

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("restconf %s: " + format, self.server.name, *args)

    def _reply(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, indent=2).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if payload:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self) -> bool:
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and self.server.check(user, password)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type not in (JSON_TYPE, "application/json"):
            raise RestconfError(415, "invalid-value", f"Content-Type must be {JSON_TYPE}")
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise RestconfError(400, "malformed-message", f"body is not JSON: {exc}") from exc

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        if path == "/.well-known/host-meta":
            xrd = '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Link rel="restconf" href="/restconf"/></XRD>'
            payload = xrd.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xrd+xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if not self._authorized():
            error = RestconfError(401, "access-denied", "authentication failed")
            return self._reply(401, error.body(), {"WWW-Authenticate": 'Basic realm="restconf"'})
        try:
            if path != DATA_ROOT and not path.startswith(DATA_ROOT + "/"):
                raise RestconfError(404, "invalid-value", f"no resource at {path!r}")
            resource = path[len(DATA_ROOT) :]
            store = self.server.store
            if method == "GET":
                return self._reply(200, store.get(resource))
            if not resource.strip("/"):
                raise RestconfError(405, "operation-not-supported", f"{method} on the datastore root")
            if method == "PUT":
                return self._reply(201 if store.put(resource, self._body()) else 204)
            if method == "PATCH":
                store.patch(resource, self._body())
            elif method == "DELETE":
                store.delete(resource)
            else:
                raise RestconfError(405, "operation-not-supported", f"{method} is not supported")
            self._reply(204)
        except RestconfError as error:
            self._reply(error.status, error.body())

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the request threads

    def __init__(self, name: str, username: str, password: str) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.name = name
        self.store = Datastore(name)
        self._username, self._password = username, password
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def check(self, username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        return hmac.compare_digest(password.encode(), self._password.encode()) and user_ok

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._open_lock:
            (self._open.add if add else self._open.discard)(sock)

    def close_connections(self) -> None:
        """Shut down keep-alive connections so their threads stop waiting for requests."""
        with self._open_lock:
            conns = list(self._open)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class RestconfServer(LabService):
    """The RESTCONF lab server; a context manager. ``port`` is set by :meth:`start`."""

    def __init__(self, name: str = "api1", *, username: str = "admin", password: str = "admin") -> None:
        self.name = name
        self.username = username
        self._password = password
        self.host = LOOPBACK
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"RestconfServer(name={self.name!r}, port={self.port}, username={self.username!r})"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def datastore(self) -> Datastore:
        """The server's data (for tests); raises if not started."""
        if self._server is None:
            raise RuntimeError(f"RESTCONF server {self.name!r} is not running")
        return self._server.store

    def start(self) -> int:
        """Bind a free loopback port, serve in a background thread, return the port."""
        if self._server is not None:
            return self.port
        self._server = _Server(self.name, self.username, self._password)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"restconf-{self.name}"
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving, close keep-alive connections, join every thread (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

"""A NetBox REST API stand-in on 127.0.0.1: ``/api/dcim/devices/`` with NetBox's payload shapes.

For the NetBox inventory plugin's tests and benchmark: device records as NetBox 4.x returns
them (nested ``site``/``role``/``tenant``/``platform``/``device_type`` objects, ``status``
as value/label, ``primary_ip`` with a prefix length, ``tags``, ``custom_fields``,
``config_context``), offset pagination (``count``/``next``/``previous``/``results``;
``limit`` default 50, at most 1,000, ``limit=0`` meaning the maximum, as NetBox's
``PAGINATE_COUNT`` and ``MAX_PAGE_SIZE``), the common filters (``site``, ``role``, ``tag``,
``status``, ``tenant``, ``platform``, ``name``, ``id``; several values of one filter are
ORed, except ``tag``, which NetBox ANDs), ``exclude=config_context``, and token auth (403
``{"detail": "Invalid token"}``). Not NetBox itself, which needs PostgreSQL, Redis and its
own source tree. Example::

    devices = [netbox_device(1, "r1", platform="cisco-ios", address="10.0.0.1/24")]
    with NetBoxApi(devices, token="t0ken") as api:
        httpx.get(f"{api.url}/api/dcim/devices/", headers={"Authorization": "Token t0ken"}).json()
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from genja_prefect.lab._service import LabService
from genja_prefect.lab.ports import LOOPBACK

PAGINATE_COUNT = 50
MAX_PAGE_SIZE = 1000
BASE = "http://netbox.invalid"  # replaced by the server's own URL in every answer


def _nested(kind: str, object_id: int, name: str, slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": object_id,
        "url": f"{BASE}/api/{kind}/{object_id}/",
        "display": name,
        "name": name,
        "slug": slug,
        "description": "",
        **extra,
    }


def _slug_id(slug: str) -> int:
    return sum(ord(c) for c in slug) % 997 + 1  # stable small ids, as NetBox's are per object


def netbox_device(
    device_id: int,
    name: str | None,
    *,
    platform: str | None = "cisco-ios",
    site: str = "dc1",
    role: str = "core",
    tenant: str | None = None,
    tags: Sequence[str] = (),
    address: str | None = "192.0.2.1/24",
    status: str = "active",
    serial: str = "",
    custom_fields: Mapping[str, Any] | None = None,
    config_context: Mapping[str, Any] | None = None,
    manufacturer: str = "cisco",
    model: str = "csr1000v",
) -> dict[str, Any]:
    """One device record in NetBox 4.x's ``/api/dcim/devices/`` shape."""
    ip: dict[str, Any] | None = None
    if address is not None:
        family = 6 if ":" in address else 4
        ip = {
            "id": device_id,
            "url": f"{BASE}/api/ipam/ip-addresses/{device_id}/",
            "display": address,
            "family": {"value": family, "label": f"IPv{family}"},
            "address": address,
            "description": "",
        }
    return {
        "id": device_id,
        "url": f"{BASE}/api/dcim/devices/{device_id}/",
        "display_url": f"{BASE}/dcim/devices/{device_id}/",
        "display": name or f"Unnamed device ({device_id})",
        "name": name,
        "device_type": {
            "id": _slug_id(model),
            "url": f"{BASE}/api/dcim/device-types/{_slug_id(model)}/",
            "display": model.upper(),
            "manufacturer": _nested("dcim/manufacturers", _slug_id(manufacturer), manufacturer.title(), manufacturer),
            "model": model.upper(),
            "slug": model,
            "description": "",
        },
        "role": _nested("dcim/device-roles", _slug_id(role), role.title(), role),
        "tenant": _nested("tenancy/tenants", _slug_id(tenant), tenant.title(), tenant) if tenant else None,
        "platform": _nested("dcim/platforms", _slug_id(platform), platform.upper(), platform) if platform else None,
        "serial": serial,
        "asset_tag": None,
        "site": _nested("dcim/sites", _slug_id(site), site.upper(), site),
        "location": None,
        "rack": None,
        "position": None,
        "face": None,
        "latitude": None,
        "longitude": None,
        "parent_device": None,
        "status": {"value": status, "label": status.title()},
        "airflow": None,
        "primary_ip": ip,
        "primary_ip4": ip if ip is not None and ip["family"]["value"] == 4 else None,
        "primary_ip6": ip if ip is not None and ip["family"]["value"] == 6 else None,
        "oob_ip": None,
        "cluster": None,
        "virtual_chassis": None,
        "vc_position": None,
        "vc_priority": None,
        "description": "",
        "comments": "",
        "config_template": None,
        "config_context": dict(config_context or {}),
        "local_context_data": None,
        "tags": [
            {"id": _slug_id(t), "url": f"{BASE}/api/extras/tags/{_slug_id(t)}/", "display": t, "name": t,
             "slug": t, "color": "9e9e9e"}
            for t in tags
        ],
        "custom_fields": dict(custom_fields or {}),
        "created": "2024-01-01T00:00:00.000000Z",
        "last_updated": "2024-01-01T00:00:00.000000Z",
        "interface_count": 4,
    }


def _matches(device: Mapping[str, Any], key: str, values: list[str]) -> bool:
    def slug(field: str) -> str | None:
        item = device.get(field)
        return item.get("slug") if isinstance(item, Mapping) else None

    if key in ("site", "role", "tenant", "platform"):
        return slug(key) in values
    if key == "status":
        return str(device["status"]["value"]) in values
    if key == "tag":
        tags = {t["slug"] for t in device["tags"]}
        return all(v in tags for v in values)
    if key == "name":
        return device.get("name") in values
    if key == "id":
        return str(device["id"]) in values
    if key == "manufacturer":
        return str(device["device_type"]["manufacturer"]["slug"]) in values
    return True  # NetBox ignores query parameters that are no filter


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and benchmarks read the request log instead

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).replace(BASE, self.server.url).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("API-Version", "4.2")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.server.record(parts.path, query)
        if self.server.delay_s:
            time.sleep(self.server.delay_s)  # a real NetBox takes its time per page
        if not self.server.authorized(self.headers.get("Authorization", "")):
            self._send(403, {"detail": "Invalid token"})
            return
        if parts.path in ("/api/", "/api"):
            self._send(200, {"dcim": f"{BASE}/api/dcim/"})
        elif parts.path == "/api/status/":
            self._send(200, {"netbox-version": "4.2.0", "python-version": "3.12.0", "plugins": {}})
        elif parts.path == "/api/dcim/devices/":
            self._send(200, self.server.page(query))
        else:
            self._send(404, {"detail": "Not found."})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, devices: list[dict[str, Any]], token: str | None, delay_s: float) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.devices = devices
        self.token = token
        self.delay_s = delay_s
        self.url = f"http://{LOOPBACK}:{self.server_address[1]}"
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()

    def record(self, path: str, query: dict[str, list[str]]) -> None:
        with self._lock:
            self.requests.append((path, query))

    def authorized(self, header: str) -> bool:
        if self.token is None:
            return True
        scheme, _, value = header.partition(" ")
        return scheme in ("Token", "Bearer") and hmac.compare_digest(value.encode(), self.token.encode())

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        selected: Iterable[dict[str, Any]] = self.devices
        for key, values in query.items():
            if key not in ("limit", "offset", "exclude", "brief", "ordering"):
                selected = [d for d in selected if _matches(d, key, values)]
        matched = list(selected)
        limit = int(query.get("limit", [str(PAGINATE_COUNT)])[0] or 0)
        limit = MAX_PAGE_SIZE if limit == 0 else min(limit, MAX_PAGE_SIZE)
        offset = int(query.get("offset", ["0"])[0] or 0)
        results = matched[offset : offset + limit]
        if "config_context" in query.get("exclude", []):
            results = [{k: v for k, v in d.items() if k != "config_context"} for d in results]

        def link(at: int) -> str:
            params = {k: v for k, v in query.items() if k not in ("limit", "offset")}
            params.update(limit=[str(limit)], offset=[str(at)])
            return f"{BASE}/api/dcim/devices/?{urlencode(params, doseq=True)}"

        return {
            "count": len(matched),
            "next": link(offset + limit) if offset + limit < len(matched) else None,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            "results": results,
        }


class NetBoxApi(LabService):
    """The stand-in API; a context manager. ``url`` is set by :meth:`start`.

    ``requests`` lists (path, query) of every request received, for tests to check paging.
    ``delay_s`` delays every answer (a real NetBox spends ~0.1-1 s on a page of devices).
    """

    def __init__(self, devices: Iterable[dict[str, Any]], *, token: str | None = None, delay_s: float = 0.0) -> None:
        self.devices = list(devices)
        self._token = token
        self.delay_s = delay_s
        self.url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"NetBoxApi({len(self.devices)} devices, url={self.url!r})"

    @property
    def requests(self) -> list[tuple[str, dict[str, list[str]]]]:
        """(path, query) of every request so far."""
        return list(self._server.requests) if self._server is not None else []

    def start(self) -> str:
        """Bind a free loopback port and serve in a background thread; returns the URL."""
        if self._server is None:
            self._server = _Server(self.devices, self._token, self.delay_s)
            self.url = self._server.url
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="netbox-api"
            )
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and join the server thread (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

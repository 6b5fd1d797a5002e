"""The RESTCONF-style server through httpx: CRUD, auth, errors, clean stop."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from genja_prefect.lab.http_server import JSON_TYPE, RestconfServer
from genja_prefect.lab.lab import Lab

HEADERS = {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE}


@pytest.fixture
def api(lab: Lab) -> Iterator[httpx.Client]:
    """A client for a fresh server (so tests do not see each other's writes)."""
    with RestconfServer("api-test", username="admin", password=lab.password) as server:
        with httpx.Client(
            base_url=f"{server.base_url}/restconf/data", auth=("admin", lab.password), headers=HEADERS
        ) as client:
            yield client


def test_lab_api_host_answers_get(lab: Lab) -> None:
    host = lab.host("api1")
    response = httpx.get(
        f"http://127.0.0.1:{host.port}/restconf/data/ietf-system:system/hostname", auth=("admin", lab.password)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == {"ietf-system:hostname": "api1"}


def test_put_patch_delete_list_entry(api: httpx.Client) -> None:
    path = "/ietf-interfaces:interfaces/interface=eth7"
    created = api.put(path, json={"ietf-interfaces:interface": [{"name": "eth7", "enabled": True}]})
    assert created.status_code == 201
    replaced = api.put(path, json={"ietf-interfaces:interface": [{"name": "eth7", "enabled": False}]})
    assert replaced.status_code == 204
    assert (
        api.patch(path, json={"ietf-interfaces:interface": [{"name": "eth7", "description": "lab"}]}).status_code == 204
    )
    assert api.get(path).json() == {
        "ietf-interfaces:interface": [{"name": "eth7", "enabled": False, "description": "lab"}]
    }
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    names = [
        i["name"] for i in api.get("/ietf-interfaces:interfaces").json()["ietf-interfaces:interfaces"]["interface"]
    ]
    assert names == ["eth0", "eth1", "lo0"]


def test_put_leaf_and_merge_container(api: httpx.Client) -> None:
    assert api.put("/ietf-system:system/hostname", json={"ietf-system:hostname": "renamed"}).status_code == 204
    assert api.patch("/ietf-system:system", json={"ietf-system:system": {"contact": "noc"}}).status_code == 204
    assert api.get("/ietf-system:system").json() == {
        "ietf-system:system": {"hostname": "renamed", "location": "lab", "contact": "noc"}
    }


def test_errors_401_404_400_415(api: httpx.Client, lab: Lab) -> None:
    unauthorized = api.get("/ietf-system:system", auth=("admin", "wrong"))
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"].startswith("Basic")
    assert unauthorized.json()["ietf-restconf:errors"]["error"][0]["error-tag"] == "access-denied"
    missing = api.get("/ietf-routing:routing")
    assert missing.status_code == 404
    assert missing.json()["ietf-restconf:errors"]["error"][0]["error-tag"] == "invalid-value"
    assert api.get("/ietf-interfaces:interfaces/interface=nope").status_code == 404
    assert (
        api.patch("/ietf-interfaces:interfaces/interface=nope", json={"ietf-interfaces:interface": {}}).status_code
        == 404
    )
    mismatch = api.put("/ietf-interfaces:interfaces/interface=a", json={"ietf-interfaces:interface": [{"name": "b"}]})
    assert mismatch.status_code == 400
    wrong_type = api.put("/ietf-system:system/hostname", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_accepted_sockets_have_tcp_nodelay_and_stop_closes_keepalive() -> None:
    server = RestconfServer(username="u", password="p")
    server.start()
    try:
        client = httpx.Client(base_url=server.base_url, auth=("u", "p"))
        assert client.get("/restconf/data/ietf-system:system").status_code == 200
        open_sockets = list(server._server._open) if server._server else []
        assert open_sockets, "the keep-alive connection should still be open"
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in open_sockets)
    finally:
        server.stop()  # must not wait for the client's idle keep-alive connection
        client.close()
    assert server._thread is None

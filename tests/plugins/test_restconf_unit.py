"""RESTCONF plugin with httpx mocked by respx: requests sent, statuses mapped, auth probe."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from genja_prefect import PluginManager
from genja_prefect.connection import ConnectionKey, ConnectionOpenError, ResolvedConnectionParams
from genja_prefect.results import TaskFailureKind
from genja_prefect.secrets import Secret
from genja_prefect_restconf import (
    RestconfConnection,
    RestconfConnectionLostError,
    RestconfData,
    RestconfError,
    RestconfNotFoundError,
    RestconfPlugin,
    RestconfTimeoutError,
)

BASE = "https://192.0.2.10:443"
PASSWORD = "Rc-Secret-pw-1"


def params(**extras: object) -> ResolvedConnectionParams:
    return ResolvedConnectionParams(
        host_id="r1", hostname="192.0.2.10", platform="iosxe", username="admin",
        password=Secret(PASSWORD), extras=dict(extras),
    )


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/restconf").respond(200, json={"ietf-restconf:restconf": {}})
        yield router


@pytest.fixture
def conn(api: respx.MockRouter) -> Iterator[RestconfConnection]:
    connection = RestconfPlugin().create(ConnectionKey("r1", "restconf"))
    connection.open(params())
    yield connection
    connection.close()


def test_installed_through_the_entry_point(plugin_manager: PluginManager) -> None:
    plugin = plugin_manager.get("connection", "restconf")
    assert isinstance(plugin, RestconfPlugin)
    assert plugin_manager.default_for("iosxe", "restconf") == "restconf"
    assert isinstance(RestconfPlugin().create(ConnectionKey("r", "restconf")), RestconfData)


def test_get_sends_basic_auth_and_accept_and_decodes_json(api: respx.MockRouter, conn: RestconfConnection) -> None:
    route = api.get("/restconf/data/ietf-system:system/hostname").respond(
        200, json={"ietf-system:hostname": "r1"}, headers={"Content-Type": "application/yang-data+json"}
    )
    assert conn.get("ietf-system:system/hostname") == {"ietf-system:hostname": "r1"}
    request = route.calls.last.request
    assert request.headers["Accept"] == "application/yang-data+json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def test_writes_send_yang_json_and_return_the_status(api: respx.MockRouter, conn: RestconfConnection) -> None:
    body = {"ietf-interfaces:interface": [{"name": "lo9", "description": "x"}]}
    put = api.put("/restconf/data/ietf-interfaces:interfaces/interface=lo9").respond(201)
    patch = api.patch("/restconf/data/ietf-system:system").respond(204)
    delete = api.delete("/restconf/data/ietf-interfaces:interfaces/interface=lo9").respond(204)
    assert conn.put("ietf-interfaces:interfaces/interface=lo9", body) == 201
    assert conn.patch("/restconf/data/ietf-system:system", {"ietf-system:system": {"location": "x"}}) == 204
    assert conn.delete("ietf-interfaces:interfaces/interface=lo9") == 204
    assert json.loads(put.calls.last.request.content) == body
    assert put.calls.last.request.headers["Content-Type"] == "application/yang-data+json"
    assert patch.called and delete.called


def test_404_is_a_not_found_command_error_with_the_server_message(api: respx.MockRouter, conn: RestconfConnection) -> None:
    api.get("/restconf/data/nope:nope").respond(404, json={"ietf-restconf:errors": {"error": [
        {"error-type": "protocol", "error-tag": "invalid-value", "error-message": "no resource"}]}})
    with pytest.raises(RestconfNotFoundError) as err:
        conn.get("nope:nope")
    assert err.value.status == 404 and "invalid-value: no resource" in str(err.value)
    assert "r1" in str(err.value) and "ietf-restconf:errors" in (err.value.output or "")


def test_other_errors_keep_their_status(api: respx.MockRouter, conn: RestconfConnection) -> None:
    api.put("/restconf/data/ietf-system:system").respond(409, text="conflict")
    with pytest.raises(RestconfError) as err:
        conn.put("ietf-system:system", {})
    assert err.value.status == 409 and not isinstance(err.value, RestconfNotFoundError)


def test_timeouts_and_transport_errors_are_classified(api: respx.MockRouter, conn: RestconfConnection) -> None:
    api.get("/restconf/data/slow").mock(side_effect=httpx.ReadTimeout("read timed out"))
    api.get("/restconf/data/gone").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(RestconfTimeoutError):
        conn.get("slow")
    with pytest.raises(RestconfConnectionLostError) as err:
        conn.get("gone")
    assert err.value.kind == TaskFailureKind.CONNECTION


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_fail_open_as_authentication(status: int) -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/restconf").respond(status)
        connection = RestconfPlugin().create(ConnectionKey("r1", "restconf"))
        with pytest.raises(ConnectionOpenError) as err:
            connection.open(params())
    assert err.value.kind == TaskFailureKind.AUTHENTICATION and err.value.retryable is False
    assert "192.0.2.10:443" in str(err.value) and PASSWORD not in str(err.value)
    assert connection.is_alive() is False


def test_open_probe_failures_are_classified() -> None:
    cases = [
        (httpx.ConnectError("[Errno 111] Connection refused"), TaskFailureKind.CONNECTION, True),
        (httpx.ConnectTimeout("timed out"), TaskFailureKind.TIMEOUT, True),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
         TaskFailureKind.AUTHENTICATION, False),
    ]
    for error, kind, retryable in cases:
        with respx.mock(base_url=BASE) as router:
            router.get("/restconf").mock(side_effect=error)
            with pytest.raises(ConnectionOpenError) as err:
                RestconfPlugin().create(ConnectionKey("r1", "restconf")).open(params())
        assert (err.value.kind, err.value.retryable) == (kind, retryable), error


def test_a_root_without_resource_still_proves_the_credentials() -> None:
    with respx.mock(base_url="http://192.0.2.10:8080") as router:
        router.get("/api").respond(404)
        connection = RestconfPlugin().create(ConnectionKey("r1", "restconf"))
        connection.open(ResolvedConnectionParams(
            host_id="r1", hostname="192.0.2.10", port=8080, username="admin", password=Secret(PASSWORD),
            extras={"scheme": "http", "base_path": "/api"},
        ))
        assert connection.url("ietf-system:system") == "/api/data/ietf-system:system"
        assert connection.is_alive()
        connection.close()
        assert not connection.is_alive()


def test_probe_can_be_turned_off_and_extras_are_validated() -> None:
    with respx.mock(base_url=BASE) as router:  # no routes: any request would fail the test
        connection = RestconfPlugin().create(ConnectionKey("r1", "restconf"))
        connection.open(params(probe=False))
        assert not router.calls
        connection.close()
    with pytest.raises(ConnectionOpenError) as err:
        RestconfPlugin().create(ConnectionKey("r1", "restconf")).open(params(shceme="http"))
    assert err.value.kind == TaskFailureKind.VALIDATION and "shceme" in str(err.value)

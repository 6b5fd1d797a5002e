"""RESTCONF plugin against the lab's loopback RESTCONF server, through ``Genja.run_task`` with
Prefect disabled. This module starts its own server (it writes to its datastore)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from genja_prefect import PluginManager
from genja_prefect.lab.http_server import RestconfServer
from genja_prefect.results import TaskFailureKind
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from .conftest import ONE_ATTEMPT, SilentServer, make_genja

PASSWORD = "api-Secret-pw-3"
LO9 = "ietf-interfaces:interfaces/interface=lo9"


@pytest.fixture(scope="module")
def api() -> Iterator[RestconfServer]:
    with RestconfServer("api-test", username="admin", password=PASSWORD) as server:
        yield server


def rc_host(port: int, password: str = PASSWORD, **extras: Any) -> dict[str, Any]:
    return {
        "hostname": "127.0.0.1",
        "platform": "restconf",
        "username": "admin",
        "password": password,
        "connection_options": {"restconf": {"port": port, "extras": {"scheme": "http", **extras}}},
    }


def test_read_write_read_back(api: RestconfServer, plugin_manager: PluginManager) -> None:
    @task(name="restconf_rw", connection_plugin_name="restconf")
    class ReadWrite:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            steps: dict[str, Any] = {"hostname": conn.get("ietf-system:system/hostname")}
            steps["put"] = conn.put(LO9, {"ietf-interfaces:interface": [
                {"name": "lo9", "description": "by genja", "type": "iana-if-type:softwareLoopback", "enabled": True}]})
            steps["after_put"] = conn.get(LO9)
            steps["patch"] = conn.patch("ietf-system:system", {"ietf-system:system": {"location": "rack-9"}})
            steps["location"] = conn.get("ietf-system:system")["ietf-system:system"]["location"]
            steps["delete"] = conn.delete(LO9)
            names = [i["name"] for i in conn.get("ietf-interfaces:interfaces")["ietf-interfaces:interfaces"]["interface"]]
            steps["names_after_delete"] = names
            return TaskSuccessResult(result=steps, changed=True)

    result = make_genja({"api": rc_host(api.port)}, plugin_manager).run_task(ReadWrite)["api"]
    assert result.status == "passed", result.message
    steps = result.result
    assert steps["hostname"] == {"ietf-system:hostname": "api-test"}
    assert steps["put"] == 201
    assert steps["after_put"]["ietf-interfaces:interface"][0]["description"] == "by genja"
    assert steps["patch"] == 204 and steps["location"] == "rack-9"
    assert steps["delete"] == 204 and "lo9" not in steps["names_after_delete"]
    assert api.datastore.get("/ietf-system:system/location") == {"ietf-system:location": "rack-9"}


def test_missing_resource_is_a_command_failure(api: RestconfServer, plugin_manager: PluginManager) -> None:
    @task(name="missing", connection_plugin_name="restconf")
    class Missing:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().get("ietf-interfaces:interfaces/interface=nope0"))

    failure = make_genja({"api": rc_host(api.port)}, plugin_manager).run_task(Missing)["api"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.COMMAND
    assert "HTTP 404" in failure.message and "interface=nope0" in failure.message


@task(name="hostname", connection_plugin_name="restconf")
class Hostname:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().get("ietf-system:system/hostname"))


def test_wrong_password_is_an_authentication_failure(api: RestconfServer, plugin_manager: PluginManager) -> None:
    wrong = "Wrong-api-pw-0"
    results = make_genja({"api": rc_host(api.port, wrong)}, plugin_manager).run_task(Hostname)
    failure = results["api"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.AUTHENTICATION
    assert failure.details["attempts"] == 1 and f"127.0.0.1:{api.port}" in failure.message
    assert wrong not in results.to_json(raw=True)


def test_closed_port_is_a_connection_failure(closed_port: int, plugin_manager: PluginManager) -> None:
    results = make_genja({"api": rc_host(closed_port)}, plugin_manager, ONE_ATTEMPT).run_task(Hostname)
    failure = results["api"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION and failure.retryable
    assert f"127.0.0.1:{closed_port}" in failure.message
    assert PASSWORD not in results.to_json(raw=True)


def test_silent_server_is_a_timeout(silent_server: SilentServer, plugin_manager: PluginManager) -> None:
    results = make_genja({"api": rc_host(silent_server.port, timeout=0.5)}, plugin_manager, ONE_ATTEMPT).run_task(
        Hostname
    )
    assert results["api"].kind == TaskFailureKind.TIMEOUT, results["api"].message

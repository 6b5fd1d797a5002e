"""ncclient plugin against the lab's NETCONF server on 127.0.0.1, through ``Genja.run_task``
with Prefect disabled. This module starts its own servers (it edits their datastores)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ncclient.transport.session as nc_session
import pytest
from lxml import etree

from genja_prefect import PluginManager
from genja_prefect.connection import CommandError, ConnectionKey, ConnectionOpenError, ResolvedConnectionParams
from genja_prefect.lab.netconf_server import NetconfServer
from genja_prefect.results import TaskFailureKind
from genja_prefect.secrets import Secret
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task
from genja_prefect_ncclient import NcclientConnection, NcclientPlugin, NetconfRpcError

from .conftest import ONE_ATTEMPT, SilentServer, make_genja

PASSWORD = "nc-Secret-pw-7"
SYS_NS = "urn:ietf:params:xml:ns:yang:ietf-system"
SYSTEM_FILTER = f'<system xmlns="{SYS_NS}"/>'


@pytest.fixture(scope="module")
def server() -> Iterator[NetconfServer]:
    with NetconfServer("nc-test", username="admin", password=PASSWORD) as netconf:
        yield netconf


@pytest.fixture(autouse=True)
def restore_tick() -> Iterator[None]:
    saved = nc_session.TICK
    yield
    nc_session.TICK = saved


def nc_host(port: int, password: str = PASSWORD, **extras: Any) -> dict[str, Any]:
    return {
        "hostname": "127.0.0.1",
        "platform": "netconf",
        "username": "admin",
        "password": password,
        "connection_options": {"ncclient": {"port": port, "extras": {"hostkey_verify": False, **extras}}},
    }


def location(xml: str) -> str | None:
    root = etree.fromstring(xml.encode())
    return root.findtext(f".//{{{SYS_NS}}}location")


def system_config(value: str) -> str:
    return f'<system xmlns="{SYS_NS}"><location>{value}</location></system>'


def test_edit_config_then_get_config_round_trip(server: NetconfServer, plugin_manager: PluginManager) -> None:
    @task(name="set_location", connection_plugin_name="ncclient")
    class SetLocation:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            before = conn.get_config(source="running", filter=SYSTEM_FILTER)
            conn.edit_config(system_config("rack-1"), target="running")
            after = conn.get_config(source="running", filter=SYSTEM_FILTER)
            return TaskSuccessResult(result={"before": before, "after": after}, changed=before != after)

    results = make_genja({"nc": nc_host(server.port)}, plugin_manager).run_task(SetLocation)
    result = results["nc"]
    assert result.status == "passed", result.message
    assert location(result.result["before"]) is None and location(result.result["after"]) == "rack-1"
    assert result.changed is True
    assert "<location>rack-1</location>" in server.running_xml()  # the server really has it


def test_candidate_lock_edit_commit(server: NetconfServer, plugin_manager: PluginManager) -> None:
    @task(name="candidate_commit", connection_plugin_name="ncclient")
    class CandidateCommit:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            assert any(":candidate" in cap for cap in conn.server_capabilities)
            conn.lock("candidate")
            try:
                conn.edit_config(system_config("staged"), target="candidate", default_operation="merge")
                staged = location(conn.get_config(source="candidate", filter=SYSTEM_FILTER))
                running_before = location(conn.get_config(filter=SYSTEM_FILTER))
                conn.discard_changes()
                discarded = location(conn.get_config(source="candidate", filter=SYSTEM_FILTER))
                conn.edit_config(system_config("committed"), target="candidate")
                conn.commit()
            finally:
                conn.unlock("candidate")
            running_after = location(conn.get_config(filter=SYSTEM_FILTER))
            return TaskSuccessResult(result=[staged, running_before, discarded, running_after])

    result = make_genja({"nc": nc_host(server.port)}, plugin_manager).run_task(CandidateCommit)["nc"]
    assert result.status == "passed", result.message
    staged, running_before, discarded, running_after = result.result
    assert staged == "staged" and running_before != "staged" and discarded != "staged"
    assert running_after == "committed"


def test_get_and_raw_rpc(server: NetconfServer, plugin_manager: PluginManager) -> None:
    @task(name="get", connection_plugin_name="ncclient")
    class Get:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            state = conn.get(filter=f'<system-state xmlns="{SYS_NS}"/>')
            raw = conn.execute_command("<get-config><source><running/></source></get-config>")
            return TaskSuccessResult(result={"state": state, "raw": raw})

    result = make_genja({"nc": nc_host(server.port)}, plugin_manager).run_task(Get)["nc"]
    assert result.status == "passed", result.message
    assert "genja-lab" in result.result["state"]  # operational data only <get> returns
    assert "<rpc-reply" in result.result["raw"] and "ietf-interfaces" in result.result["raw"]


def test_rpc_error_is_a_command_failure_with_the_error(server: NetconfServer, plugin_manager: PluginManager) -> None:
    @task(name="delete_missing", connection_plugin_name="ncclient")
    class DeleteMissing:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            context.connection().edit_config(
                f'<system xmlns="{SYS_NS}" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
                f'<contact nc:operation="delete"/></system>'
            )
            return TaskSuccessResult()

    failure = make_genja({"nc": nc_host(server.port)}, plugin_manager).run_task(DeleteMissing)["nc"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.COMMAND
    assert "data-missing" in failure.message and "edit-config running" in failure.message
    assert "<error-tag>data-missing</error-tag>" in failure.details["output"]


def open_direct(port: int, password: str = PASSWORD, **extras: Any) -> NcclientConnection:
    conn = NcclientPlugin().create(ConnectionKey("direct", "ncclient"))
    conn.open(ResolvedConnectionParams(
        host_id="direct", hostname="127.0.0.1", port=port, platform="netconf", username="admin",
        password=Secret(password), extras={"hostkey_verify": False, **extras},
    ))
    return conn


def test_a_lock_held_by_another_session_is_a_command_failure(server: NetconfServer) -> None:
    first, second = open_direct(server.port), open_direct(server.port)
    try:
        first.lock("running")
        with pytest.raises(CommandError, match="lock-denied"):
            second.lock("running")
    finally:
        first.close()  # closing the session releases its lock
        second.close()
    third = open_direct(server.port)
    try:
        third.lock("running")
        third.unlock("running")
    finally:
        third.close()


def test_rpc_errors_keep_path_and_error_info(server: NetconfServer) -> None:
    conn = open_direct(server.port)
    try:
        with pytest.raises(NetconfRpcError) as caught:
            conn.edit_config(f'<system xmlns="{SYS_NS}"><hostnam>x</hostnam></system>', error_option="rollback-on-error")
    finally:
        conn.close()
    err = caught.value
    assert err.tags == ["unknown-element"] and isinstance(err, CommandError)
    assert err.errors[0]["path"] == "/system/hostnam" and err.errors[0]["info"] == {"bad-element": "hostnam"}
    assert "unknown-element: unknown element 'hostnam' in system (path /system/hostnam, bad-element hostnam)" in str(err)


def test_opening_lowers_ncclient_tick_unless_opted_out(server: NetconfServer) -> None:
    nc_session.TICK = 0.1
    conn = open_direct(server.port, ncclient_tick=None)
    conn.close()
    assert nc_session.TICK == 0.1
    conn = open_direct(server.port)
    conn.close()
    assert nc_session.TICK == 0.005


# -- failures ---------------------------------------------------------------------------------
@task(name="running", connection_plugin_name="ncclient")
class Running:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().get_config())


def test_wrong_password_is_an_authentication_failure(server: NetconfServer, plugin_manager: PluginManager) -> None:
    wrong = "Not-The-Passw0rd"
    results = make_genja({"nc": nc_host(server.port, wrong)}, plugin_manager).run_task(Running)
    failure = results["nc"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.AUTHENTICATION
    assert failure.retryable is False and failure.details["attempts"] == 1
    assert f"127.0.0.1:{server.port}" in failure.message
    assert wrong not in results.to_json(raw=True)


def test_unknown_host_key_is_an_authentication_failure(server: NetconfServer, plugin_manager: PluginManager) -> None:
    results = make_genja({"nc": nc_host(server.port, hostkey_verify=True)}, plugin_manager).run_task(Running)
    assert results["nc"].kind == TaskFailureKind.AUTHENTICATION and "host key" in results["nc"].message


def test_closed_port_is_a_connection_failure(closed_port: int, plugin_manager: PluginManager) -> None:
    results = make_genja({"nc": nc_host(closed_port)}, plugin_manager, ONE_ATTEMPT).run_task(Running)
    failure = results["nc"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION and failure.retryable
    assert f"127.0.0.1:{closed_port}" in failure.message and "refused" in failure.message
    assert PASSWORD not in results.to_json(raw=True)


def test_silent_server_is_a_timeout(silent_server: SilentServer, plugin_manager: PluginManager) -> None:
    results = make_genja({"nc": nc_host(silent_server.port, timeout_open=0.5)}, plugin_manager, ONE_ATTEMPT).run_task(
        Running
    )
    failure = results["nc"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT, failure.message


def test_is_alive_and_close(plugin_manager: PluginManager) -> None:
    def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.05)
        return predicate()

    threads = threading.active_count()
    with NetconfServer("nc-drop", username="admin", password=PASSWORD) as dropping:
        conn = open_direct(dropping.port)
        assert conn.is_alive()
        assert threading.active_count() > threads  # ncclient's session and paramiko's transport
    # The server is gone: ncclient notices and the connection says so.
    assert wait_for(lambda: not conn.is_alive())
    with pytest.raises(ConnectionOpenError) as err:
        conn.get_config()
    assert err.value.kind == TaskFailureKind.CONNECTION and "not open" in str(err.value)
    conn.close()
    assert wait_for(lambda: threading.active_count() <= threads), threading.enumerate()


def test_no_password_in_debug_logs(
    server: NetconfServer, plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Log-pw-552"
    hosts = {"good": nc_host(server.port), "bad": nc_host(server.port, wrong)}
    with caplog.at_level("DEBUG"):
        results = make_genja(hosts, plugin_manager, ONE_ATTEMPT).run_task(Running)
    assert results["good"].status == "passed" and results["bad"].kind == TaskFailureKind.AUTHENTICATION
    assert any(r.name.startswith("ncclient") for r in caplog.records)
    assert PASSWORD not in caplog.text and wrong not in caplog.text

"""scrapli plugin against real SSH endpoints on 127.0.0.1: fakenos devices and the asyncssh
simulator, through ``Genja.run_task`` with Prefect disabled.

Read-only tests use the session ``lab`` (fakenos ios1, eos1, junos1). Tests that change a
device or turn its fault knobs use this module's own simulator and fakenos fleet.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from genja_prefect import PluginManager
from genja_prefect.connection import ConnectionKey, ConnectionOpenError, ResolvedConnectionParams
from genja_prefect.lab.fakenos_devices import FakeNOSFleet
from genja_prefect.lab.simulator import Simulator
from genja_prefect.results import TaskFailureKind
from genja_prefect.secrets import Secret
from genja_prefect.task import Host, TaskFailureResult, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task
from genja_prefect_scrapli import ScrapliConnection, ScrapliPlugin

from tests.process_probe import wait_for

from .conftest import ONE_ATTEMPT, SilentServer, child_processes, make_genja, open_fds, os_threads, ssh_host

SIM_PASSWORD = "sim-Secret-pw-42"


@task(name="show_version", connection_plugin_name="scrapli")
class ShowVersion:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        output = context.connection().execute_command("show version")
        return TaskSuccessResult(summary=output.splitlines()[0] if output else "", result=output)


def run_one(genja: Any, task_class: Any) -> dict[str, Any]:
    results = genja.run_task(task_class)
    assert sorted(results) == sorted(genja.host_ids())  # exactly one result per host
    return {host_id: results[host_id] for host_id in results}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """This module's own simulated devices (their config and fault knobs are ours to change)."""
    with Simulator.from_counts(ios=3, eos=1, prefix="t-", password=SIM_PASSWORD) as simulator:
        yield simulator


@pytest.fixture
def sim_device(sim: Simulator) -> Iterator[Callable[[str], Any]]:
    """A device of ``sim`` by name, with its fault knobs reset after the test."""
    used = []

    def get(name: str) -> Any:
        device = sim.device(name)
        used.append(device)
        return device

    yield get
    for device in used:
        device.delay_s, device.fail_auth, device.drop_on = 0.0, False, None


@pytest.fixture(scope="module")
def nxos_fleet() -> Iterator[FakeNOSFleet]:
    with FakeNOSFleet.from_counts(nxos=1, password=SIM_PASSWORD) as fleet:
        yield fleet


def lab_ssh_hosts(lab: Any, password: str, names: list[str]) -> dict[str, Any]:
    return {name: ssh_host(lab.host(name).port, lab.host(name).platform, password) for name in names}


# -- fakenos platforms ----------------------------------------------------------------------
def test_show_version_on_fakenos_ios_eos_junos(lab: Any, lab_password: str, plugin_manager: PluginManager) -> None:
    genja = make_genja(lab_ssh_hosts(lab, lab_password, ["ios1", "eos1", "junos1"]), plugin_manager)
    results = run_one(genja, ShowVersion)
    assert {h: r.status for h, r in results.items()} == {"ios1": "passed", "eos1": "passed", "junos1": "passed"}
    assert "Cisco IOS" in results["ios1"].result
    assert "EOS" in results["eos1"].result
    assert "junos" in results["junos1"].result.lower()


def test_show_version_on_fakenos_nxos(nxos_fleet: FakeNOSFleet, plugin_manager: PluginManager) -> None:
    device = nxos_fleet.devices[0]
    genja = make_genja({"nx1": ssh_host(device.port, "nxos", SIM_PASSWORD)}, plugin_manager)
    result = run_one(genja, ShowVersion)["nx1"]
    assert result.status == "passed", result.message
    assert "NX-OS" in result.result or "Nexus" in result.result


def test_device_error_output_is_a_command_failure_with_the_output(
    lab: Any, lab_password: str, plugin_manager: PluginManager
) -> None:
    @task(name="bogus", connection_plugin_name="scrapli")
    class Bogus:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show bogus thing"))

    genja = make_genja(lab_ssh_hosts(lab, lab_password, ["ios1", "eos1"]), plugin_manager)
    for host_id, result in run_one(genja, Bogus).items():
        assert result.status == "failed" and result.kind == TaskFailureKind.COMMAND, host_id
        assert "show bogus thing" in result.message
        assert "% Invalid input" in result.details["output"]


def test_fakenos_eos_config_mode_then_back_to_exec(lab: Any, lab_password: str, plugin_manager: PluginManager) -> None:
    """fakenos's arista_eos is its only model with a config mode (it keeps no config state)."""

    @task(name="eos_config", connection_plugin_name="scrapli")
    class EosConfig:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            output = conn.send_config(["no logging console", "do show ip int brief"])
            in_config = conn.get_prompt()
            version = conn.execute_command("show version")
            return TaskSuccessResult(result={"output": output, "prompt": in_config, "after": conn.get_prompt(),
                                             "version": version})

    result = run_one(make_genja(lab_ssh_hosts(lab, lab_password, ["eos1"]), plugin_manager), EosConfig)["eos1"]
    assert result.status == "passed", result.message
    assert "Interface" in result.result["output"]
    assert result.result["prompt"] == "eos1(config)#"
    assert result.result["after"] == "eos1#" and "EOS" in result.result["version"]


# -- simulator: config change and read-back ---------------------------------------------------
@pytest.mark.parametrize(("name", "platform"), [("t-ios1", "ios"), ("t-eos1", "eos")])
def test_config_change_then_read_back(
    sim: Simulator, sim_device: Callable[[str], Any], plugin_manager: PluginManager, name: str, platform: str
) -> None:
    device = sim_device(name)

    @task(name="add_loopback", connection_plugin_name="scrapli")
    class AddLoopback:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            conn.send_config(["interface Loopback42", "description set-by-genja"])
            running = conn.execute_command("show running-config")
            return TaskSuccessResult(result=running, changed=True)

    genja = make_genja({name: ssh_host(device.port, platform, SIM_PASSWORD)}, plugin_manager)
    result = run_one(genja, AddLoopback)[name]
    assert result.status == "passed", result.message
    assert "interface Loopback42" in result.result and "description set-by-genja" in result.result
    assert "description set-by-genja" in sim.running_config(name)  # the device really has it


def test_rejected_config_line_stops_and_fails_with_the_line(
    sim: Simulator, sim_device: Callable[[str], Any], plugin_manager: PluginManager
) -> None:
    device = sim_device("t-ios2")

    @task(name="bad_config", connection_plugin_name="scrapli")
    class BadConfig:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            context.connection().send_config(["ntp server 192.0.2.9", "frobnicate everything", "interface Loopback7"])
            return TaskSuccessResult()

    result = run_one(make_genja({"t-ios2": ssh_host(device.port, "ios", SIM_PASSWORD)}, plugin_manager), BadConfig)
    failure = result["t-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.COMMAND
    assert "frobnicate everything" in failure.message
    running = sim.running_config("t-ios2")
    assert "ntp server 192.0.2.9" in running  # lines before the bad one stay applied, as on a CLI
    assert "Loopback7" not in running  # nothing after it was sent


def test_send_commands_returns_one_output_per_command(sim: Simulator, plugin_manager: PluginManager) -> None:
    @task(name="several", connection_plugin_name="scrapli")
    class Several:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().send_commands(["show version", "show clock"]))

    device = sim.device("t-ios3")
    result = run_one(make_genja({"r": ssh_host(device.port, "ios", SIM_PASSWORD)}, plugin_manager), Several)["r"]
    assert result.status == "passed", result.message
    version, clock = result.result
    assert "Cisco IOS XE" in version and "UTC" in clock


# -- failures ---------------------------------------------------------------------------------
def assert_no_secret(result: Any, secret: str) -> None:
    dumped = json.dumps(result.to_dict(raw=True) if hasattr(result, "to_dict") else str(result), default=str)
    assert secret not in dumped and secret not in str(result.message)


def test_wrong_password_is_an_authentication_failure_without_retries(
    lab: Any, plugin_manager: PluginManager
) -> None:
    wrong = "Wrong-Passw0rd-xyz"
    genja = make_genja(lab_ssh_hosts(lab, wrong, ["ios1"]), plugin_manager, {"prefect": {"enabled": False}})
    results = genja.run_task(ShowVersion)
    failure = results["ios1"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.AUTHENTICATION
    assert failure.retryable is False and failure.details["attempts"] == 1
    assert f"127.0.0.1:{lab.host('ios1').port}" in failure.message and "ios1" in failure.message
    assert wrong not in results.to_json(raw=True) and wrong not in failure.message


def test_simulator_rejecting_every_login_is_an_authentication_failure(
    sim_device: Callable[[str], Any], plugin_manager: PluginManager
) -> None:
    device = sim_device("t-ios3")
    device.fail_auth = True
    results = make_genja({"r": ssh_host(device.port, "ios", SIM_PASSWORD)}, plugin_manager).run_task(ShowVersion)
    assert results["r"].kind == TaskFailureKind.AUTHENTICATION
    assert SIM_PASSWORD not in results.to_json(raw=True)


def test_closed_port_is_a_retried_connection_failure(closed_port: int, plugin_manager: PluginManager) -> None:
    genja = make_genja({"gone": ssh_host(closed_port, "ios", SIM_PASSWORD)}, plugin_manager)
    results = genja.run_task(ShowVersion)
    failure = results["gone"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION
    assert failure.retryable is True and failure.details["attempts"] == 3  # runner.max_connection_attempts
    assert f"127.0.0.1:{closed_port}" in failure.message and "refused" in failure.message
    assert SIM_PASSWORD not in results.to_json(raw=True)


def test_silent_device_is_an_open_timeout(silent_server: SilentServer, plugin_manager: PluginManager) -> None:
    hosts = {"hung": ssh_host(silent_server.port, "ios", SIM_PASSWORD, timeout_open=1)}
    results = make_genja(hosts, plugin_manager, ONE_ATTEMPT).run_task(ShowVersion)
    failure = results["hung"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT and failure.retryable is True
    assert f"127.0.0.1:{silent_server.port}" in failure.message


def test_slow_device_at_open_is_a_timeout(sim_device: Callable[[str], Any], plugin_manager: PluginManager) -> None:
    device = sim_device("t-ios3")
    device.delay_s = 1.0  # every answer, including scrapli's on-open commands
    hosts = {"slow": ssh_host(device.port, "ios", SIM_PASSWORD, timeout_open=0.5)}
    failure = make_genja(hosts, plugin_manager, ONE_ATTEMPT).run_task(ShowVersion)["slow"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT, failure.message


def test_slow_command_is_a_timeout_and_the_session_is_not_reused(
    sim: Simulator, sim_device: Callable[[str], Any], plugin_manager: PluginManager
) -> None:
    device = sim_device("t-ios3")
    sessions: list[int] = []

    @task(name="slow_then_fast", connection_plugin_name="scrapli")
    class SlowCommand:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            sessions.append(id(conn))
            device.delay_s = 1.0
            try:
                return TaskSuccessResult(result=conn.execute_command("show version"))
            finally:
                device.delay_s = 0.0

    @task(name="after", connection_plugin_name="scrapli")
    class After:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            sessions.append(id(context.connection()))
            return TaskSuccessResult(result=context.connection().execute_command("show clock"))

    hosts = {"r": ssh_host(device.port, "ios", SIM_PASSWORD, timeout_ops=0.3)}
    slow, after = make_genja(hosts, plugin_manager).run_tasks([SlowCommand, After])
    assert slow["r"].status == "failed" and slow["r"].kind == TaskFailureKind.TIMEOUT
    assert "0.3 s" in slow["r"].message
    assert after["r"].status == "passed" and "UTC" in after["r"].result
    assert sessions[0] != sessions[1]  # the timed-out session was replaced, not reused


def test_session_dropped_mid_command_is_a_connection_failure(
    sim_device: Callable[[str], Any], plugin_manager: PluginManager
) -> None:
    device = sim_device("t-ios3")
    device.drop_on = "show tech-support"

    @task(name="show_tech", connection_plugin_name="scrapli")
    class ShowTech:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show tech-support"))

    failure = make_genja({"r": ssh_host(device.port, "ios", SIM_PASSWORD)}, plugin_manager).run_task(ShowTech)["r"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION, failure.message
    assert failure.retryable is True


# -- liveness, host keys, cleanup ----------------------------------------------------------
def open_direct(port: int, **extras: Any) -> ScrapliConnection:
    conn = ScrapliPlugin().create(ConnectionKey("direct", "scrapli"))
    conn.open(ResolvedConnectionParams(
        host_id="direct", hostname="127.0.0.1", port=port, platform="ios", username="admin",
        password=Secret(SIM_PASSWORD), extras={"auth_strict_key": False, **extras},
    ))
    return conn




@pytest.mark.parametrize("transport", ["bin", "ssh2"])
def test_is_alive_reflects_a_dropped_session(sim: Simulator, transport: str) -> None:
    conn = open_direct(sim.device("t-ios1").port, transport=transport)
    try:
        assert conn.is_alive() is True
        assert "t-ios1#" == conn.get_prompt()
        assert sim.drop_connections("t-ios1") >= 1
        assert wait_for(lambda: not conn.is_alive())
    finally:
        conn.close()
    assert conn.is_alive() is False


def test_a_dropped_session_is_reopened_for_the_next_task(sim: Simulator, plugin_manager: PluginManager) -> None:
    @task(name="show_then_drop", connection_plugin_name="scrapli")
    class ShowThenDrop:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            output = conn.execute_command("show version")
            sim.drop_connections(host.id)
            assert wait_for(lambda: not conn.is_alive())
            return TaskSuccessResult(result=output)

    name = "t-ios1"
    first, second = make_genja({name: ssh_host(sim.device(name).port, "ios", SIM_PASSWORD)}, plugin_manager).run_tasks(
        [ShowThenDrop, ShowVersion]
    )
    assert first[name].status == "passed" and second[name].status == "passed", second[name]


def _known_hosts(path: Path, port: int, key: asyncssh.SSHKey | None) -> str:
    line = f"[127.0.0.1]:{port} {key.export_public_key('openssh').decode().strip()}\n" if key else ""
    path.write_text(line)
    return str(path)


@pytest.mark.parametrize("transport", ["bin", "ssh2"])
def test_host_key_is_checked_when_a_known_hosts_file_is_configured(
    sim: Simulator, tmp_path: Path, plugin_manager: PluginManager, transport: str
) -> None:
    device = sim.device("t-eos1")
    key = asyncio.run(asyncssh.get_server_host_key("127.0.0.1", device.port))
    assert key is not None
    good = _known_hosts(tmp_path / "known_hosts", device.port, key)
    empty = _known_hosts(tmp_path / "empty_known_hosts", device.port, None)

    def host(**extras: Any) -> dict[str, Any]:
        entry = ssh_host(device.port, "eos", SIM_PASSWORD, transport=transport, **extras)
        del entry["connection_options"]["scrapli"]["extras"]["auth_strict_key"]
        entry["connection_options"]["scrapli"]["extras"].update(extras)
        return entry

    hosts = {
        "known": host(known_hosts_file=good),
        "unknown": host(known_hosts_file=empty),
        "opted_out": host(known_hosts_file=empty, auth_strict_key=False),
    }
    results = make_genja(hosts, plugin_manager).run_task(ShowVersion)
    assert results["known"].status == "passed", results["known"].message
    assert results["opted_out"].status == "passed", results["opted_out"].message
    unknown = results["unknown"]
    assert unknown.status == "failed" and unknown.kind == TaskFailureKind.AUTHENTICATION
    assert "host key" in unknown.message and unknown.details["attempts"] == 1


def test_close_releases_threads_sockets_and_ssh_processes(sim: Simulator) -> None:
    names = ("t-ios1", "t-ios2", "t-eos1")
    # Servers share this process, so its totals also move when they clean up: the checks
    # are "back to (at most) where we started" plus the devices' own view of open sessions.
    threads, fds, children = os_threads(), open_fds(), child_processes()
    conns = [open_direct(sim.device(name).port) for name in names]
    conns.append(open_direct(sim.device(names[0]).port, transport="ssh2"))
    assert len(child_processes()) >= len(children) + 3  # the bin transport's ssh clients
    assert sum(sim.connection_count(name) for name in names) == 4
    for conn in conns:
        assert conn.get_prompt().endswith("#")
    for conn in conns:
        conn.close()
    assert wait_for(lambda: sum(sim.connection_count(name) for name in names) == 0)
    assert wait_for(lambda: os_threads() <= threads and open_fds() <= fds and child_processes() == children), (
        (threads, fds, children), (os_threads(), open_fds(), child_processes()))


def test_failed_open_leaks_nothing(closed_port: int, silent_server: SilentServer) -> None:
    threads, fds, children = os_threads(), open_fds(), child_processes()
    for port, extras in ((closed_port, {}), (silent_server.port, {"timeout_open": 0.5}),
                         (closed_port, {"transport": "ssh2"})):
        conn = ScrapliPlugin().create(ConnectionKey("x", "scrapli"))
        with pytest.raises(ConnectionOpenError):
            conn.open(ResolvedConnectionParams(
                host_id="x", hostname="127.0.0.1", port=port, platform="ios", username="admin",
                password=Secret(SIM_PASSWORD), extras={"auth_strict_key": False, **extras},
            ))
        conn.close()
    silent_server.drop_accepted()  # its server-side sockets live in this process too
    assert wait_for(lambda: os_threads() <= threads and open_fds() <= fds and child_processes() == children), (
        (threads, fds, children), (os_threads(), open_fds(), child_processes()))


def test_unsupported_platform_fails_clearly(plugin_manager: PluginManager) -> None:
    results = make_genja({"fw": {"hostname": "127.0.0.1", "port": 1, "platform": "vyos"}}, plugin_manager).run_task(
        ShowVersion
    )
    failure = results["fw"]
    assert isinstance(failure, TaskFailureResult) and failure.kind == TaskFailureKind.VALIDATION
    assert "vyos" in failure.message and "definition" in failure.message


def test_no_password_in_debug_logs(
    sim: Simulator, plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    """libscrapli forwards its log at the Python logger's level: even DEBUG has no password."""
    wrong = "Wrong-Log-pw-551"
    device = sim.device("t-eos1")
    hosts = {"good": ssh_host(device.port, "eos", SIM_PASSWORD), "bad": ssh_host(device.port, "eos", wrong)}
    with caplog.at_level("DEBUG"):
        results = make_genja(hosts, plugin_manager, ONE_ATTEMPT).run_task(ShowVersion)
    assert results["good"].status == "passed" and results["bad"].kind == TaskFailureKind.AUTHENTICATION
    assert any(r.name.startswith("scrapli") for r in caplog.records)  # the debug log was on
    assert SIM_PASSWORD not in caplog.text and wrong not in caplog.text


def test_sessions_work_with_descriptors_above_1024(sim: Simulator, plugin_manager: PluginManager) -> None:
    """scrapli's own select() wait fails there (~200 open sessions); the plugin's poll() wait does not."""
    from genja_prefect_scrapli import pollwait

    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        device = sim.device("t-ios2")
        results = make_genja({"r": ssh_host(device.port, "ios", SIM_PASSWORD)}, plugin_manager).run_task(ShowVersion)
    finally:
        for fd in filler:
            os.close(fd)
    assert results["r"].status == "passed", results["r"].message
    assert pollwait.installed()

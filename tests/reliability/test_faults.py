"""The fault matrix (issue 6), through ``Genja`` and the real plugins against the loopback lab,
Prefect off. For each fault: every selected host ends with exactly one result, the faulty one
classified (kind, retryable, attempts), the healthy ones passed, and no connection, ssh child,
thread or file descriptor left behind once the run returns.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from genja_prefect import PluginManager
from genja_prefect.lab.lab import Lab
from genja_prefect.results import TaskFailureKind
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from .conftest import (
    FullBacklog,
    LeakProbe,
    SilentServer,
    lab_ssh,
    make_genja,
    netconf_host,
    one_result_per_host,
    restconf_host,
    ssh_host,
)


@task(name="cli_probe", connection_plugin_name="scrapli")
class CliProbe:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        output = context.connection().execute_command("show version")
        return TaskSuccessResult(summary=output.splitlines()[0], result=output)


@task(name="netconf_probe", connection_plugin_name="ncclient")
class NetconfProbe:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().get_config(source="running"))


@task(name="restconf_probe", connection_plugin_name="restconf")
class RestconfProbe:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().get("ietf-system:system"))


PROBES = {"scrapli": CliProbe, "ncclient": NetconfProbe, "restconf": RestconfProbe}
#: Two connection attempts with a short backoff: retries are visible and cheap.
TWO_ATTEMPTS: dict[str, Any] = {
    "prefect": {"enabled": False},
    "runner": {"max_connection_attempts": 2, "connection_backoff_ms": 20, "worker_count": 4},
}


def healthy_hosts(lab: Lab, plugin: str) -> dict[str, Any]:
    """Hosts of ``plugin`` that work: the ones that must stay unaffected by a faulty neighbour."""
    if plugin == "scrapli":
        return {"sim-ios1": lab_ssh(lab, "sim-ios1"), "sim-eos1": lab_ssh(lab, "sim-eos1")}
    if plugin == "ncclient":
        return {"netconf1": netconf_host(lab.host("netconf1").port)}
    return {"api1": restconf_host(lab.host("api1").port)}


def faulty_host(plugin: str, port: int, *, password: str = "rel-lab-Pw-7c1e", hostname: str = "127.0.0.1",
                short_timeout: bool = False) -> dict[str, Any]:
    if plugin == "scrapli":
        return ssh_host(port, "ios", password, hostname=hostname, **({"timeout_open": 0.5} if short_timeout else {}))
    if plugin == "ncclient":
        return netconf_host(port, password, hostname=hostname, **({"timeout_open": 0.5} if short_timeout else {}))
    return restconf_host(port, password, hostname=hostname, **({"timeout": 0.5} if short_timeout else {}))


def lab_port(lab: Lab, plugin: str) -> int:
    return lab.host({"scrapli": "sim-ios2", "ncclient": "netconf1", "restconf": "api1"}[plugin]).port


def run_matrix(lab: Lab, plugin: str, faulty: dict[str, Any], plugin_manager: PluginManager,
               probe_ports: set[int], after: Any = None) -> tuple[Any, Any]:
    hosts = {**healthy_hosts(lab, plugin), "faulty": faulty}
    ports = probe_ports | {h["port"] if "port" in h else next(iter(h["connection_options"].values()))["port"]
                           for h in hosts.values()}
    probe = LeakProbe(ports, lab, [h for h in hosts if h.startswith("sim-")])
    results = make_genja(hosts, plugin_manager, TWO_ATTEMPTS).run_task(PROBES[plugin])
    one_result_per_host(results, hosts)
    for host_id in hosts:
        if host_id != "faulty":
            assert results[host_id].status == "passed", (host_id, results[host_id])
    if after is not None:
        after()
    probe.assert_clean()
    return results, results["faulty"]


# -- connection-level faults, for each first-party plugin -------------------------------------
@pytest.mark.parametrize("plugin", ["scrapli", "ncclient", "restconf"])
def test_refused_connection_is_a_retried_connection_failure(
    rel_lab: Lab, plugin_manager: PluginManager, closed_port: int, plugin: str
) -> None:
    _, failure = run_matrix(rel_lab, plugin, faulty_host(plugin, closed_port), plugin_manager, {closed_port})
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION, failure
    assert failure.retryable is True
    assert failure.details["attempts"] == 2  # runner.max_connection_attempts
    assert f"127.0.0.1:{closed_port}" in failure.message and "faulty" in failure.message


@pytest.mark.parametrize("plugin", ["scrapli", "ncclient", "restconf"])
def test_wrong_password_is_an_authentication_failure_not_retried(
    rel_lab: Lab, plugin_manager: PluginManager, plugin: str
) -> None:
    wrong = "Wrong-Rel-Pw-0815"
    port = lab_port(rel_lab, plugin)
    results, failure = run_matrix(rel_lab, plugin, faulty_host(plugin, port, password=wrong), plugin_manager, set())
    assert failure.status == "failed" and failure.kind == TaskFailureKind.AUTHENTICATION, failure
    assert failure.retryable is False and failure.details["attempts"] == 1
    assert wrong not in results.to_json() and wrong not in results.to_json(raw=True)


@pytest.mark.parametrize("plugin", ["scrapli", "ncclient", "restconf"])
def test_unknown_hostname_is_a_connection_failure_not_retried(
    rel_lab: Lab, plugin_manager: PluginManager, plugin: str
) -> None:
    # .invalid never resolves (RFC 6761): the name lookup fails, nothing is sent to a device.
    faulty = faulty_host(plugin, 22, hostname="nonexistent.invalid")
    _, failure = run_matrix(rel_lab, plugin, faulty, plugin_manager, set())
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION, failure
    assert failure.retryable is False and failure.details["attempts"] == 1
    assert "nonexistent.invalid" in failure.message


@pytest.mark.parametrize("plugin", ["scrapli", "ncclient", "restconf"])
def test_device_that_accepts_tcp_but_never_speaks_is_an_open_timeout(
    rel_lab: Lab, plugin_manager: PluginManager, silent_server: SilentServer, plugin: str
) -> None:
    faulty = faulty_host(plugin, silent_server.port, short_timeout=True)
    # The server side of the accepted connections lives in this process: close it before counting.
    _, failure = run_matrix(rel_lab, plugin, faulty, plugin_manager, set(), after=silent_server.drop_accepted)
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT, failure
    assert failure.retryable is True and failure.details["attempts"] == 2


@pytest.mark.parametrize("plugin", ["scrapli", "ncclient", "restconf"])
def test_listener_with_a_full_backlog_is_an_open_timeout(
    rel_lab: Lab, plugin_manager: PluginManager, full_backlog: FullBacklog, plugin: str
) -> None:
    faulty = faulty_host(plugin, full_backlog.port, short_timeout=True)
    # The backlog fillers are connections to that port already: the probe counts new ones only.
    _, failure = run_matrix(rel_lab, plugin, faulty, plugin_manager, set())
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT, failure
    assert failure.retryable is True and failure.details["attempts"] == 2


# -- faults in the middle of a task (scrapli on the simulator) --------------------------------
def sim_hosts(lab: Lab, *names: str, **faulty_extras: Any) -> dict[str, Any]:
    hosts = {name: lab_ssh(lab, name) for name in ("sim-ios1", "sim-eos1")}
    for name in names:
        hosts[name] = lab_ssh(lab, name, **faulty_extras)
    return hosts


def run_sim(lab: Lab, hosts: dict[str, Any], task_class: Any, plugin_manager: PluginManager,
            settings: dict[str, Any] | None = None) -> Any:
    probe = LeakProbe({lab.host(h).port for h in hosts}, lab, list(hosts))
    results = make_genja(hosts, plugin_manager, settings or TWO_ATTEMPTS).run_task(task_class)
    one_result_per_host(results, hosts)
    probe.assert_clean()
    return results


def test_command_slower_than_the_ops_timeout_is_a_timeout(
    rel_lab: Lab, plugin_manager: PluginManager, sim_device: Any
) -> None:
    slow = sim_device("sim-ios2")

    @task(name="slow_command", connection_plugin_name="scrapli")
    class SlowCommand:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()  # opened at full speed
            if host.id == "sim-ios2":
                slow.delay_s = 2.0  # longer than this host's timeout_ops
            return TaskSuccessResult(result=conn.execute_command("show version"))

    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2", timeout_ops=0.5), SlowCommand, plugin_manager)
    failure = results["sim-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.TIMEOUT, failure
    assert failure.retryable is True and "0.5 s" in failure.message
    assert results["sim-ios1"].status == results["sim-eos1"].status == "passed"


def test_connection_dropped_by_the_device_mid_command_is_a_connection_failure(
    rel_lab: Lab, plugin_manager: PluginManager, sim_device: Any
) -> None:
    sim_device("sim-ios2").drop_on = "show version"  # the device aborts TCP instead of answering
    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2"), CliProbe, plugin_manager)
    failure = results["sim-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION, failure
    assert failure.retryable is True
    assert results["sim-ios1"].status == results["sim-eos1"].status == "passed"


def test_connection_dropped_between_two_commands_is_a_connection_failure(
    rel_lab: Lab, plugin_manager: PluginManager
) -> None:
    @task(name="two_commands", connection_plugin_name="scrapli")
    class TwoCommands:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            first = conn.execute_command("show version")
            if host.id == "sim-ios2":
                assert rel_lab.simulator.drop_connections("sim-ios2") == 1
            return TaskSuccessResult(result=[first, conn.execute_command("show clock")])

    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2", timeout_ops=5), TwoCommands, plugin_manager)
    failure = results["sim-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.CONNECTION, failure
    assert failure.retryable is True


def test_command_rejected_by_the_device_is_a_command_failure(rel_lab: Lab, plugin_manager: PluginManager) -> None:
    @task(name="show_thing", connection_plugin_name="scrapli")
    class ShowThing:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            command = "show bogus thing" if host.id == "sim-ios2" else "show version"
            return TaskSuccessResult(result=context.connection().execute_command(command))

    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2"), ShowThing, plugin_manager)
    failure = results["sim-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.COMMAND, failure
    assert failure.retryable is False and "show bogus thing" in failure.message
    assert "% Invalid input" in failure.details["output"]  # what the device said
    assert results["sim-ios1"].status == results["sim-eos1"].status == "passed"


def test_slow_device_within_its_timeouts_succeeds(
    rel_lab: Lab, plugin_manager: PluginManager, sim_device: Any
) -> None:
    sim_device("sim-ios2").delay_s = 0.3  # every answer, the on-open commands included
    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2", timeout_open=60, timeout_ops=60), CliProbe,
                      plugin_manager)
    assert [results[h].status for h in results] == ["passed"] * 3, results.to_dict()
    assert "Cisco IOS XE" in results["sim-ios2"].result


# -- connection retries and task retries --------------------------------------------------------
def test_max_connection_attempts_and_exponential_backoff(
    rel_lab: Lab, plugin_manager: PluginManager, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"prefect": {"enabled": False},
                "runner": {"max_connection_attempts": 4, "connection_backoff_ms": 10}}
    hosts = {"sim-ios1": lab_ssh(rel_lab, "sim-ios1"), "gone": ssh_host(closed_port)}
    with caplog.at_level(logging.INFO, logger="genja_prefect.engine.resolver"):
        results = make_genja(hosts, plugin_manager, settings).run_task(CliProbe)
    one_result_per_host(results, hosts)
    assert results["sim-ios1"].status == "passed"
    assert results["gone"].kind == TaskFailureKind.CONNECTION and results["gone"].details["attempts"] == 4
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage() and "gone" in r.getMessage()]
    # three waits between four attempts, doubling from connection_backoff_ms
    assert [m.split("retrying in ")[1] for m in retries] == ["0.01s", "0.02s", "0.04s"], retries


def _dropping_task(lab: Lab, drops: int) -> Any:
    """A task whose session is dropped by the device on its first ``drops`` executions."""
    calls: list[str] = []

    @task(name="flaky_session", connection_plugin_name="scrapli")
    class FlakySession:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            conn = context.connection()
            calls.append(host.id)
            if host.id == "sim-ios2":
                lab.simulator.device(host.id).drop_on = "show version" if calls.count(host.id) <= drops else None
            return TaskSuccessResult(result=conn.execute_command("show version"))

    FlakySession.calls = calls  # type: ignore[attr-defined]
    return FlakySession


@pytest.mark.parametrize(
    ("retry", "drops", "status", "attempts"),
    [
        ({"allow": True, "max_attempts": 3, "delay_ms": 10}, 1, "passed", 2),  # the retry succeeds
        ({"allow": True, "max_attempts": 3, "delay_ms": 10}, 5, "failed", 3),  # retries exhausted
        ({"allow": False}, 1, "failed", 1),  # retries off: the first failure is final
    ],
    ids=["retry-succeeds", "retries-exhausted", "retry-off"],
)
def test_task_retry_of_retryable_failures(
    rel_lab: Lab, plugin_manager: PluginManager, sim_device: Any, retry: dict[str, Any], drops: int,
    status: str, attempts: int,
) -> None:
    sim_device("sim-ios2")  # resets drop_on afterwards
    flaky = _dropping_task(rel_lab, drops)
    settings = {"prefect": {"enabled": False}, "runner": {"retry": retry}}
    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2"), flaky, plugin_manager, settings)
    result = results["sim-ios2"]
    assert result.status == status and result.attempts == attempts, result
    assert flaky.calls.count("sim-ios2") == attempts
    if status == "failed":
        assert result.kind == TaskFailureKind.CONNECTION and result.retryable is True
    assert results["sim-ios1"].status == results["sim-eos1"].status == "passed"
    assert flaky.calls.count("sim-ios1") == 1  # healthy hosts run once


def test_non_retryable_failure_is_not_retried_even_with_retries_on(
    rel_lab: Lab, plugin_manager: PluginManager, sim_device: Any
) -> None:
    sim_device("sim-ios2").fail_auth = True
    settings = {"prefect": {"enabled": False}, "runner": {"retry": {"allow": True, "max_attempts": 3}}}
    results = run_sim(rel_lab, sim_hosts(rel_lab, "sim-ios2"), CliProbe, plugin_manager, settings)
    failure = results["sim-ios2"]
    assert failure.kind == TaskFailureKind.AUTHENTICATION and failure.retryable is False
    assert failure.attempts == 1 and failure.details["attempts"] == 1

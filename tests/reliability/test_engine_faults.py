"""Faults on the genja side of the wire: bad inventory, unknown plugins, plugins and tasks that
raise, processors that raise. Real scrapli sessions to the lab run beside the faulty hosts, so
"the other hosts are unaffected" and "every connection is closed" are checked on real sockets.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

import genja_prefect
from genja_prefect import InventoryError, PluginManager, SettingsError
from genja_prefect.cli.main import main as cli_main
from genja_prefect.connection import (
    ConnectionBase,
    ConnectionKey,
    ConnectionOpenError,
    ConnectionPluginBase,
    ResolvedConnectionParams,
)
from genja_prefect.lab.lab import Lab
from genja_prefect.processor import ProcessorPluginBase
from genja_prefect.results import TaskFailureKind
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from .conftest import ExplodingRunner, LeakProbe, lab_ssh, make_genja, one_result_per_host

NO_PREFECT = {"prefect": {"enabled": False}, "runner": {"worker_count": 4}}


@task(name="cli_probe", connection_plugin_name="scrapli")
class CliProbe:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().execute_command("show version"))


def lab_hosts(lab: Lab, *names: str) -> dict[str, Any]:
    return {name: lab_ssh(lab, name) for name in names}


# -- malformed inventory: a clear error, and nothing runs ----------------------------------------
GOOD_HOSTS = "r1:\n  hostname: 127.0.0.1\n  port: 1\n  platform: ios\n  groups: [core]\n"
GOOD_GROUPS = "core:\n  data: {site: lab}\n"
SETTINGS = (
    "inventory:\n  plugin: FileInventoryPlugin\n"
    "  options: {hosts_file: hosts.yaml, groups_file: groups.yaml, defaults_file: defaults.yaml}\n"
    "runner: {plugin: threaded, worker_count: 2}\n"
)
MARKER_TASK = '''
import os
from genja_prefect.task import TaskSuccessResult, task


@task(name="marker")
class Marker:
    def start(self, task, host, context):
        with open(os.environ["REL_MARKER"], "a") as out:
            out.write(host.id + "\\n")
        return TaskSuccessResult()
'''


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        # a YAML syntax error: file and line
        ("hosts.yaml", GOOD_HOSTS + "r2:\n  hostname: [127.0.0.1\n  platform: ios\n", ["hosts.yaml", "line 8", "invalid YAML"]),
        # a misspelt key: file, line, host and key
        ("hosts.yaml", GOOD_HOSTS + "r2:\n  hostname: 127.0.0.1\n  platfrom: ios\n", ["hosts.yaml", "line 8", "host 'r2'", "platfrom"]),
        # a wrong type: file, line, host and key
        ("hosts.yaml", GOOD_HOSTS + "r2:\n  port: not-a-port\n", ["hosts.yaml", "line 7", "host 'r2'", "port"]),
        # a group nobody defined
        ("hosts.yaml", GOOD_HOSTS + "r2:\n  groups: [edge]\n", ["hosts.yaml", "line 7", "host 'r2'", "unknown group 'edge'"]),
        # a broken groups file
        ("groups.yaml", "core:\n  data: {site: lab\n", ["groups.yaml", "invalid YAML"]),
        # a broken settings file
        ("settings.yaml", SETTINGS + "runner: [\n", ["settings.yaml", "line", "invalid YAML"]),
    ],
    ids=["yaml-syntax", "unknown-key", "wrong-type", "unknown-group", "groups-syntax", "settings-syntax"],
)
def test_malformed_inventory_is_a_clear_error_and_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    file: str, text: str, expected: list[str],
) -> None:
    files = {"hosts.yaml": GOOD_HOSTS, "groups.yaml": GOOD_GROUPS, "defaults.yaml": "username: admin\n",
             "settings.yaml": SETTINGS, file: text}
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "marker_task.py").write_text(MARKER_TASK)
    marker = tmp_path / "ran.txt"
    monkeypatch.setenv("REL_MARKER", str(marker))

    error_class = SettingsError if file == "settings.yaml" else InventoryError
    with pytest.raises(error_class) as raised:
        genja_prefect.Genja.from_settings_file(tmp_path / "settings.yaml")
    for part in expected:
        assert part in str(raised.value), (part, str(raised.value))

    code = cli_main(["run", f"{tmp_path / 'marker_task.py'}:Marker", "--settings", str(tmp_path / "settings.yaml"),
                     "--no-prefect"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    for part in expected:
        assert part in err, (part, err)
    assert not marker.exists()  # no host ran


# -- plugins that cannot be found ---------------------------------------------------------------
def test_unknown_plugin_name_fails_every_host_as_validation(
    rel_lab: Lab, plugin_manager: PluginManager
) -> None:
    @task(name="typo", connection_plugin_name="scrapy")
    class Typo:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            raise AssertionError("must not run without its connection")

    hosts = lab_hosts(rel_lab, "sim-ios1", "sim-ios2", "sim-eos1")
    probe = LeakProbe({rel_lab.host(h).port for h in hosts}, rel_lab, list(hosts))
    results = make_genja(hosts, plugin_manager, NO_PREFECT).run_task(Typo)
    one_result_per_host(results, hosts)
    for host_id in hosts:
        failure = results[host_id]
        assert failure.status == "failed" and failure.kind == TaskFailureKind.VALIDATION, failure
        assert failure.retryable is False
        assert "unknown connection plugin 'scrapy'" in failure.message and "scrapli" in failure.message
    probe.assert_clean()


def test_platform_without_a_plugin_is_unsupported_and_others_run(
    rel_lab: Lab, plugin_manager: PluginManager
) -> None:
    @task(name="by_type", connection_type="ssh")
    class ByType:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show version"))

    hosts = lab_hosts(rel_lab, "sim-ios1")
    hosts["fw1"] = {"hostname": "127.0.0.1", "port": 9, "platform": "vyos"}
    results = make_genja(hosts, plugin_manager, NO_PREFECT).run_task(ByType)
    one_result_per_host(results, hosts)
    assert results["sim-ios1"].status == "passed", results["sim-ios1"]
    failure = results["fw1"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.UNSUPPORTED, failure
    assert "vyos" in failure.message


# -- a plugin that raises in open, execute or close ----------------------------------------------
class FaultyConnection(ConnectionBase):
    """Misbehaves in the method named by the host's ``extras.fail``."""

    def __init__(self, key: ConnectionKey, journal: list[tuple[str, str]]) -> None:
        self.key = key
        self.journal = journal
        self.fail = ""
        self.is_open = False

    def open(self, params: ResolvedConnectionParams) -> None:
        self.fail = params.extras.get("fail", "")
        self.journal.append(("open", self.key.host_id))
        if self.fail == "open":
            raise RuntimeError(f"open exploded on {self.key.host_id}")
        if self.fail == "open-auth":
            raise ConnectionOpenError(f"faulty: {self.key.host_id} rejected the login", kind="authentication",
                                      retryable=False)
        self.is_open = True

    def execute_command(self, command: str) -> str:
        if self.fail == "execute":
            raise RuntimeError(f"execute exploded on {self.key.host_id}")
        if self.fail == "execute-timeout":
            raise TimeoutError(f"{command!r} got no answer from {self.key.host_id}")
        return f"{self.key.host_id}: {command}"

    def close(self) -> ConnectionKey:
        self.journal.append(("close", self.key.host_id))
        self.is_open = False
        if self.fail == "close":
            raise RuntimeError(f"close exploded on {self.key.host_id}")
        return self.key

    def is_alive(self) -> bool:
        return self.is_open


class FaultyPlugin(ConnectionPluginBase):
    name = "faulty"

    def __init__(self) -> None:
        self.journal: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def create(self, key: ConnectionKey) -> FaultyConnection:
        return FaultyConnection(key, self.journal)


def test_plugin_raising_in_open_execute_or_close(
    rel_lab: Lab, plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = plugin_manager.register_plugin(FaultyPlugin())

    @task(name="both", connection_plugin_name="faulty")
    class Both:
        """Uses the faulty plugin, and a real scrapli session to the lab on the sim hosts."""

        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            out = context.connection().execute_command("show version")
            if host.id.startswith("sim-"):
                out += context.get_connection("scrapli").execute_command("show version")
            return TaskSuccessResult(result=out)

    def faulty(fail: str) -> dict[str, Any]:
        return {"hostname": "127.0.0.1", "connection_options": {"faulty": {"extras": {"fail": fail}}}}

    hosts = {**{name: {**lab_ssh(rel_lab, name), **faulty("")} for name in ("sim-ios1", "sim-eos1")},
             "sim-ios2": {**lab_ssh(rel_lab, "sim-ios2"), **faulty("close")},
             "open": faulty("open"), "open-auth": faulty("open-auth"), "execute": faulty("execute"),
             "execute-timeout": faulty("execute-timeout")}
    for name in ("sim-ios1", "sim-eos1", "sim-ios2"):
        hosts[name]["connection_options"]["scrapli"] = lab_ssh(rel_lab, name)["connection_options"]["scrapli"]
    probe = LeakProbe({rel_lab.host(h).port for h in ("sim-ios1", "sim-eos1", "sim-ios2")}, rel_lab,
                      ["sim-ios1", "sim-eos1", "sim-ios2"])
    settings = {"prefect": {"enabled": False}, "runner": {"max_connection_attempts": 2, "connection_backoff_ms": 1}}
    with caplog.at_level(logging.WARNING, logger="genja_prefect"):
        results = make_genja(hosts, plugin_manager, settings).run_task(Both)
    one_result_per_host(results, hosts)

    # healthy hosts, and the one whose close fails later, passed with both sessions
    for name in ("sim-ios1", "sim-eos1", "sim-ios2"):
        assert results[name].status == "passed", results[name]
        assert "Cisco IOS XE" in results[name].result or "Arista" in results[name].result
    # open raising an unclassified exception: a retryable connection failure naming host and error
    failure = results["open"]
    assert failure.kind == TaskFailureKind.CONNECTION and failure.retryable is True, failure
    assert failure.details["attempts"] == 2 and "open exploded on open" in failure.message
    # open raising a classified ConnectionOpenError keeps its kind and is not retried
    failure = results["open-auth"]
    assert failure.kind == TaskFailureKind.AUTHENTICATION and failure.retryable is False, failure
    assert failure.details["attempts"] == 1
    # execute raising: a bug is internal with the traceback; a TimeoutError is a timeout
    failure = results["execute"]
    assert failure.kind == TaskFailureKind.INTERNAL and failure.retryable is False, failure
    assert "execute exploded on execute" in failure.message
    assert "in execute_command" in failure.details["traceback"]
    assert "RuntimeError" in failure.details["traceback"]
    failure = results["execute-timeout"]
    assert failure.kind == TaskFailureKind.TIMEOUT and failure.retryable is True, failure

    # every faulty connection that was created got closed once: opened ones at the end of the
    # run (a failing close is only a warning), half-open ones right after their failed open
    opens = [h for op, h in plugin.journal if op == "open"]
    closes = [h for op, h in plugin.journal if op == "close"]
    assert sorted(opens) == sorted(closes), plugin.journal
    assert opens.count("open") == 2 and opens.count("open-auth") == 1
    assert any("closing faulty@sim-ios2 failed" in r.getMessage() and "close exploded" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    # and the real scrapli session of the host whose faulty close raised was still closed
    probe.assert_clean()


# -- a task that raises ---------------------------------------------------------------------------
def test_task_raising_is_an_internal_failure_with_traceback(
    rel_lab: Lab, plugin_manager: PluginManager
) -> None:
    @task(name="parse_version", connection_plugin_name="scrapli")
    class ParseVersion:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            output = context.connection().execute_command("show version")
            if host.id == "sim-ios2":
                parse_uptime(output)
            return TaskSuccessResult(result=output.splitlines()[0])

    def parse_uptime(text: str) -> int:
        raise ValueError(f"no uptime in {len(text)} bytes")

    hosts = lab_hosts(rel_lab, "sim-ios1", "sim-ios2", "sim-eos1")
    probe = LeakProbe({rel_lab.host(h).port for h in hosts}, rel_lab, list(hosts))
    results = make_genja(hosts, plugin_manager, NO_PREFECT).run_task(ParseVersion)
    one_result_per_host(results, hosts)
    assert results["sim-ios1"].status == results["sim-eos1"].status == "passed"
    failure = results["sim-ios2"]
    assert failure.status == "failed" and failure.kind == TaskFailureKind.INTERNAL and failure.retryable is False
    assert failure.message.startswith("ValueError: no uptime in")
    assert failure.details["exception_type"] == "builtins.ValueError"
    assert "in parse_uptime" in failure.details["traceback"] and "in start" in failure.details["traceback"]
    assert "Traceback (most recent call last)" in results.to_json()  # the traceback is in the JSON
    probe.assert_clean()  # the session the task opened before raising is closed too


# -- processors that raise ------------------------------------------------------------------------
class ExplodingProcessor(ProcessorPluginBase):
    name = "exploding"

    def task_started(self, task: Any, host_ids: list[str]) -> None:
        raise RuntimeError("task_started exploded")

    def host_completed(self, task: Any, host: Any, result: Any) -> None:
        if host.id == "sim-ios2":
            raise RuntimeError("host_completed exploded")
        result.metadata["seen_by"] = "exploding"

    def subtask_completed(self, task: Any, host: Any, result: Any) -> None:
        raise KeyError("subtask_completed exploded")

    def task_completed(self, task: Any, results: Any) -> None:
        raise RuntimeError("task_completed exploded")


def test_processor_raising_is_a_warning_and_the_result_is_kept(
    rel_lab: Lab, plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    plugin_manager.register_plugin(ExplodingProcessor())

    @task(name="clock", connection_plugin_name="scrapli")
    class Clock:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show clock"))

    @task(name="version_then_clock", connection_plugin_name="scrapli", processors=["exploding"], sub_tasks=[Clock])
    class VersionThenClock:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show version"))

    hosts = lab_hosts(rel_lab, "sim-ios1", "sim-ios2")
    probe = LeakProbe({rel_lab.host(h).port for h in hosts}, rel_lab, list(hosts))
    with caplog.at_level(logging.WARNING, logger="genja_prefect"):
        results = make_genja(hosts, plugin_manager, NO_PREFECT).run_task(VersionThenClock, max_depth=1)
    one_result_per_host(results, hosts)
    one_result_per_host(results.sub_tasks["clock"], hosts)
    for host_id in hosts:
        root, sub = results[host_id], results.sub_tasks["clock"][host_id]
        assert root.status == "passed" and "Cisco IOS XE" in root.result, root
        assert sub.status == "passed" and "UTC" in sub.result, sub
        assert any("subtask_completed failed" in w and "subtask_completed exploded" in w for w in sub.warnings)
    assert any("host_completed failed" in w for w in results["sim-ios2"].warnings)
    assert results["sim-ios1"].metadata == {"seen_by": "exploding"}
    assert not any("host_completed" in w for w in results["sim-ios1"].warnings)
    logged = [r.getMessage() for r in caplog.records]
    assert any("task_started failed" in m for m in logged) and any("task_completed failed" in m for m in logged)
    probe.assert_clean()


# -- a runner plugin that raises -------------------------------------------------------------------
def test_runner_plugin_raising_reaches_the_caller_and_closes_sessions(
    rel_lab: Lab, plugin_manager: PluginManager
) -> None:
    plugin_manager.register_plugin(ExplodingRunner())
    hosts = lab_hosts(rel_lab, "sim-ios1", "sim-eos1")
    probe = LeakProbe({rel_lab.host(h).port for h in hosts}, rel_lab, list(hosts))
    genja = make_genja(hosts, plugin_manager, {"prefect": {"enabled": False}, "runner": {"plugin": "exploding"}})
    with pytest.raises(RuntimeError, match="runner exploded after opening sessions"):
        genja.run_task(CliProbe)
    probe.assert_clean()

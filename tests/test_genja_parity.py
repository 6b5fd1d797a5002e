"""genja-py parity: every name of genja-py's public surface, imported from where genja-py keeps
it and exercised; genja-py's filter rules; per-host timing (also on the host's Prefect task run).

genja-py's own shapes are used on purpose: plugins with ``name()``/``group()`` methods, runners
with ``run(...)``, processors with ``on_*`` hooks, as a script ported from genja-py has them.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

import genja_prefect as genja_lib
from genja_prefect import (
    Genja,
    GenjaBuilder,
    HostTaskResult,
    TaskConnectionResolver,
    TaskDefinition,
    TaskResults,
    Tasks,
)
from genja_prefect.connection import ConnectionKey, ConnectionPluginProtocol, ConnectionProtocol, ResolvedConnectionParams
from genja_prefect.inventory import InventoryPluginProtocol
from genja_prefect.processor import TaskProcessorContext, TaskProcessorProtocol
from genja_prefect.runner import RunnerPluginProtocol
from genja_prefect.selection import FilterError
from genja_prefect.settings import InventoryConfig, OptionsConfig, Settings, SSHConfig
from genja_prefect.task import (
    GenjaTaskProtocol,
    Host,
    TaskFailureKind,
    TaskFailureResult,
    TaskInfo,
    TaskMessage,
    TaskMessageLevel,
    TaskRuntimeContext,
    TaskSkipResult,
    TaskSuccessResult,
    task,
)
from genja_prefect.transform import TransformFunctionPluginProtocol

PLAIN = {"prefect": {"enabled": False}}


# -- genja-py-shaped plugins ---------------------------------------------------------------
class EchoConnection:
    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.opened_with: dict[str, Any] | None = None

    def open(self, params: ResolvedConnectionParams) -> None:
        self.opened_with = {"hostname": params.hostname, "port": params.port, "platform": params.platform}

    def execute_command(self, command: str) -> str:
        return f"{self.key.host_id}: {command}"

    def close(self) -> ConnectionKey:
        return self.key

    def is_alive(self) -> bool:
        return self.opened_with is not None


class EchoPlugin:
    def name(self) -> str:
        return "echo"

    def group(self) -> str:
        return "ConnectionPlugin"

    def create(self, key: ConnectionKey) -> EchoConnection:
        return EchoConnection(key)


class FirstHostOnly:
    """genja-py's runner shape: name() and group() methods, run_task(...)."""

    def name(self) -> str:
        return "first_only"

    def group(self) -> str:
        return "RunnerPlugin"

    def run_task(self, task: Any, hosts: dict[str, Any], connection_resolver: Any, runner_config: Any, max_depth: int) -> Any:
        first = dict(list(hosts.items())[:1])
        return task.run_on_hosts(first, connection_resolver, max_depth)


class LastHostOnly:
    """genja-py's earlier runner protocol: ``run(...)`` instead of ``run_task``."""

    def name(self) -> str:
        return "last_only"

    def group(self) -> str:
        return "RunnerPlugin"

    def run(self, task: Any, hosts: dict[str, Any], connection_resolver: Any, runner_config: Any, max_depth: int) -> Any:
        return task.run_on_hosts(dict(list(hosts.items())[-1:]), connection_resolver, max_depth)


class Audit:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None, str | None, int]] = []

    def name(self) -> str:
        return "audit"

    def group(self) -> str:
        return "ProcessorPlugin"

    def _note(self, hook: str, c: TaskProcessorContext) -> None:
        self.events.append((hook, c.task_name, c.hostname, c.parent_task_name, c.depth))

    def on_task_start(self, context: TaskProcessorContext, results: Any) -> None:
        self._note("task_start", context)

    def on_task_finish(self, context: TaskProcessorContext, results: Any) -> None:
        self._note("task_finish", context)

    def on_instance_start(self, context: TaskProcessorContext) -> None:
        self._note("instance_start", context)

    def on_instance_finish(self, context: TaskProcessorContext, result: Any) -> dict[str, Any]:
        self._note("instance_finish", context)
        data = result.to_dict()
        data["metadata"] = {**(data.get("metadata") or {}), "processed_by": context.task_name}
        return data


class StaticInventory:
    def name(self) -> str:
        return "static_inventory"

    def group(self) -> str:
        return "InventoryPlugin"

    def load(self, settings: Settings, plugins: Any) -> dict[str, Any]:
        suffix = settings.inventory.options.get("suffix", "")
        return {
            "hosts": {"r1": {"hostname": f"10.0.0.1{suffix}", "groups": ["core"]}, "r2": {"hostname": "10.0.0.2"}},
            "groups": {"core": {"platform": "ios"}},
        }


class HostnameSuffix:
    def name(self) -> str:
        return "hostname_suffix"

    def group(self) -> str:
        return "TransformFunctionPlugin"

    def transform_host(self, host: dict[str, Any], options: Any) -> dict[str, Any]:
        return {**host, "hostname": f"{host['hostname']}{options['suffix']}"}


@task(name="child")
class Child:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        time.sleep(0.002)
        return TaskSuccessResult(summary=f"child on {host.id}")


@task(name="show", connection_plugin_name="echo", sub_tasks=[Child], processors=["audit"])
class Show:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        conn = context.connection()
        return TaskSuccessResult(
            summary=conn.execute_command("show version"),
            messages=[TaskMessage(level=TaskMessageLevel.INFO, text="ran", code="OK")],
            metadata={"opened_with": conn.opened_with},
        )


@task(name="plain")
class Plain:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(summary=host.hostname)


HOSTS = {
    "r1": {"hostname": "10.0.0.1", "groups": ["core"], "data": {"site": {"name": "fra-1", "role": "core-2"}}},
    "r2": {"hostname": "10.0.0.2", "platform": "eos", "data": {"site": {"name": "ams"}, "devices": [{"role": "edge"}]}},
    "r3": {"hostname": "10.0.0.3", "groups": ["core"], "data": {"role": "core", "tags": ["a", "b"], "port_count": 48}},
}
GROUPS = {"core": {"platform": "ios", "data": {"tier": 1}}}
# genja-py's builder takes hosts only: the same hosts with the group's values written in
FLAT = {h: {k: v for k, v in a.items() if k != "groups"} | {"platform": a.get("platform", "ios")} for h, a in HOSTS.items()}


def runtime() -> Genja:
    return Genja.from_hosts(HOSTS, GROUPS, settings=PLAIN)


# -- names ---------------------------------------------------------------------------------
def test_every_genja_py_name_is_where_genja_py_keeps_it() -> None:
    import importlib

    # importlib: as in genja-py, the package attribute `task` is the decorator, not the module
    connection, processor, settings, task_module = (
        importlib.import_module(f"genja_prefect.{m}") for m in ("connection", "processor", "settings", "task")
    )

    protocols = [
        ConnectionPluginProtocol, ConnectionProtocol, InventoryPluginProtocol, RunnerPluginProtocol,
        TaskProcessorProtocol, TransformFunctionPluginProtocol, GenjaTaskProtocol,
    ]
    for proto in protocols:
        assert Protocol in proto.__mro__ and getattr(proto, "_is_protocol", False), proto
        assert getattr(genja_lib, proto.__name__) is proto  # re-exported from the root
    # the root re-exports the task, connection, settings and processor names (genja.Host, ...)
    for module, names in [
        (task_module, ["task", "Host", "TaskInfo", "TaskRuntimeContext", "TaskSuccessResult", "TaskFailureResult",
                       "TaskSkipResult", "TaskFailureKind", "TaskMessage", "TaskMessageLevel", "GenjaTaskProtocol"]),
        (connection, ["ConnectionKey", "ResolvedConnectionParams", "ConnectionBase", "ConnectionPluginBase"]),
        (settings, ["Settings", "CoreConfig", "InventoryConfig", "OptionsConfig", "SSHConfig", "RunnerConfig", "LoggingConfig"]),
        (processor, ["TaskProcessorContext", "TaskProcessorProtocol", "ProcessorPluginBase"]),
    ]:
        for name in names:
            assert getattr(genja_lib, name) is getattr(module, name), name
    assert {"Genja", "GenjaBuilder", "HostTaskResult", "TaskDefinition", "Tasks", "TaskResults",
            "TaskConnectionResolver", "PluginManager"} <= set(genja_lib.__all__)
    # structural checks work at runtime, for genja-py's shapes
    assert isinstance(EchoPlugin(), ConnectionPluginProtocol)
    assert isinstance(EchoConnection(ConnectionKey("r1", "echo")), ConnectionProtocol)
    assert isinstance(FirstHostOnly(), RunnerPluginProtocol)
    assert isinstance(Audit(), TaskProcessorProtocol)
    assert isinstance(StaticInventory(), InventoryPluginProtocol)
    assert isinstance(HostnameSuffix(), TransformFunctionPluginProtocol)
    assert not isinstance(object(), ConnectionPluginProtocol)
    assert isinstance(Show(), GenjaTaskProtocol) and Show.__genja_task__.name == "show"


# -- builder, plugins, runners, processors ---------------------------------------------------
def test_builder_round_trip_with_genja_py_plugins() -> None:
    manager = genja_lib.PluginManager()
    audit = Audit()
    builder = Genja.builder(FLAT, PLAIN, manager)
    assert isinstance(builder, GenjaBuilder)
    genja = builder.with_plugin(EchoPlugin()).with_plugin(audit).with_runner("serial").build()
    assert genja.settings.runner.plugin == "serial" and genja.host_ids() == ["r1", "r2", "r3"]
    assert ("echo", "connection") in genja.plugin_manager.plugin_names_and_groups()
    assert "echo" not in manager.plugin_names()  # the caller's manager is left alone

    results = genja.run_task(Show, max_depth=1)
    assert results.passed_hosts == ["r1", "r2", "r3"]
    r1 = results["r1"]
    assert r1.summary == "r1: show version"  # type: ignore[union-attr]
    assert r1.metadata["opened_with"] == {"hostname": "10.0.0.1", "port": None, "platform": "ios"}  # type: ignore[union-attr]
    assert r1.metadata["processed_by"] == "show"  # type: ignore[union-attr]  # on_instance_finish's dict replaced it
    assert results.sub_tasks["child"]["r1"].metadata["processed_by"] == "child"  # type: ignore[union-attr]
    assert results.to_dict()["hosts"]["r1"]["messages"] == [{"level": "info", "text": "ran", "code": "OK", "timestamp": None}]
    # processor contexts: task hooks without a host, instance hooks with host, parent and depth
    assert audit.events[0] == ("task_start", "show", None, None, 0)
    assert audit.events[-1] == ("task_finish", "show", None, None, 0)
    r1_events = [e for e in audit.events if e[2] == "r1"]
    assert r1_events == [
        ("instance_start", "show", "r1", None, 0),
        ("instance_start", "child", "r1", "show", 1),
        ("instance_finish", "child", "r1", "show", 1),
        ("instance_finish", "show", "r1", None, 0),
    ]
    assert TaskProcessorContext(task_name="child", parent_task_name="show", depth=1).is_sub_task

    other = Genja.builder(FLAT).with_plugin_manager(genja.plugin_manager).build()
    assert other.plugin_manager is genja.plugin_manager


def test_genja_py_runner_and_run_on_hosts() -> None:
    genja = Genja.builder(FLAT, PLAIN).with_plugin(FirstHostOnly()).with_runner("first_only").build()
    results = genja.run_task(Plain)
    assert list(results.hosts) == ["r1"] and results["r1"].summary == "10.0.0.1"  # type: ignore[union-attr]
    older = Genja.builder(FLAT, PLAIN).with_plugin(LastHostOnly()).with_runner("last_only").build()
    assert list(older.run_task(Plain).hosts) == ["r3"]

    definition = TaskDefinition.from_python_class(Show)
    assert definition.name == "show" and definition.connection_plugin_name == "echo"
    assert [s.name for s in definition.sub_tasks] == ["child"]
    data = definition.to_dict()
    assert data["processors"] == ["audit"] and data["sub_tasks"][0]["name"] == "child"
    json.dumps(data)
    with pytest.raises(genja_lib.TaskDefinitionError):
        TaskDefinition.from_python_class(Show())  # type: ignore[arg-type]

    # outside a run: a resolver of its own; max_depth defaults to 0 as in genja-py
    plain = TaskDefinition.from_python_class(Plain)
    hosts = runtime().hosts()
    tree = plain.run_on_hosts({h: hosts[h] for h in ["r3", "r1"]})
    assert list(tree.hosts) == ["r3", "r1"] and tree.passed_hosts == ["r3", "r1"]
    manager = genja_lib.PluginManager()
    manager.register_plugin(EchoPlugin())
    manager.register_plugin(Audit())
    inventory = runtime().inventory
    resolver = TaskConnectionResolver(inventory, manager, runtime().settings.runner)
    shown = definition.run_on_hosts([hosts["r2"]], resolver)
    assert shown["r2"].summary == "r2: show version"  # type: ignore[union-attr]
    assert shown.sub_tasks["child"]["r2"].reason == "max_depth_exceeded"  # type: ignore[union-attr]
    deeper = definition.run_on_hosts([hosts["r2"]], resolver, max_depth=1)
    assert deeper.sub_tasks["child"].passed_hosts == ["r2"]
    resolver.close_all()

    tasks = Tasks([Plain]).add_task(Child)
    assert [t.name for t in tasks.task_definitions()] == [t.name for t in tasks.to_list()] == ["plain", "child"]


def test_genja_py_inventory_and_transform_plugins(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "inventory:\n  plugin: static_inventory\n  options: {suffix: '0'}\n"
        "  transform_function: hostname_suffix\n  transform_function_options: {suffix: '.lab'}\n"
        "prefect: {enabled: false}\n"
    )
    manager = genja_lib.PluginManager()
    manager.register_plugin(StaticInventory())
    manager.register_plugin(HostnameSuffix())
    genja = Genja.from_settings_file(settings, plugin_manager=manager)
    assert genja.inventory()["r1"]["hostname"] == "10.0.0.10.lab"
    assert genja.inventory()["r1"]["platform"] == "ios"
    assert genja.hosts_raw()["r2"] == {"hostname": "10.0.0.2.lab"}
    with pytest.raises(genja_lib.PluginError, match="group"):
        bad = HostnameSuffix()
        bad.group = lambda: "NoSuchPlugin"  # type: ignore[method-assign]
        manager.register_plugin(bad)


# -- the inventory as plain data ---------------------------------------------------------------
def test_hosts_raw_versus_inventory_on_an_inherited_value() -> None:
    genja = Genja.from_hosts(
        {"r1": {"hostname": "10.0.0.1", "groups": ["core"], "password": "s3cret"}, "r2": {"hostname": "10.0.0.2"}},
        GROUPS,
        {"username": "admin"},
        settings=PLAIN,
    )
    inventory = genja.inventory()
    raw = genja.hosts_raw()
    assert inventory["r1"]["platform"] == "ios" and "platform" not in raw["r1"]  # from the group
    assert inventory["r1"]["username"] == "admin" and "username" not in raw["r1"]  # from defaults
    assert inventory["r1"]["data"] == {"tier": 1} and "data" not in raw["r1"]
    assert raw["r1"] == {"hostname": "10.0.0.1", "groups": ["core"], "password": "***"}
    assert inventory["r1"]["password"] == "***" and inventory["r2"]["password"] is None
    assert "s3cret" not in json.dumps([inventory, raw])
    assert genja.iter_inventory_hosts() == [("r1", inventory["r1"]), ("r2", inventory["r2"])]
    # inventory(), hosts_raw() and iter_inventory_hosts() are the whole inventory; a selection
    # changes only iter_selected_hosts() and what runs
    only = genja.filter(platform="ios")
    assert list(only.inventory()) == ["r1", "r2"] and list(only.hosts_raw()) == ["r1", "r2"]
    assert only.iter_selected_hosts() == [("r1", inventory["r1"])]


# -- results ---------------------------------------------------------------------------------
def test_host_task_result_from_python_result_of_each_kind() -> None:
    ok = TaskSuccessResult(summary="fine", changed=True)
    failed = TaskFailureResult(message="timed out", kind=TaskFailureKind.TIMEOUT, retryable=True)
    skipped = TaskSkipResult(reason="unsupported_platform")
    for result, status in [(ok, "passed"), (failed, "failed"), (skipped, "skipped")]:
        assert isinstance(result, HostTaskResult)
        assert HostTaskResult.from_python_result(result) is result
        assert result.status == status
        normalized, raw = result.to_dict(), result.to_dict(raw=True)
        assert normalized["status"] == status
        again = HostTaskResult.from_python_result(normalized)
        assert type(again) is type(result) and again.to_dict() == normalized
        assert HostTaskResult.from_python_result(raw).to_dict(raw=True) == raw
    assert HostTaskResult.from_python_result({"status": "failed", "message": "x", "kind": "command"}).kind is TaskFailureKind.COMMAND  # type: ignore[union-attr]
    # a timed result's dict (as a run wrote it) keeps its timing
    timed = runtime().run_task(Plain)["r1"]
    assert timed.duration_ms is not None
    for raw_shape in (False, True):
        back = HostTaskResult.from_python_result(timed.to_dict(raw=raw_shape))
        assert back.to_dict() == timed.to_dict() and back.finished_at == timed.finished_at
    with pytest.raises(TypeError, match="cannot make a host result"):
        HostTaskResult.from_python_result("passed")
    with pytest.raises(TypeError, match="invalid TaskSuccessResult fields"):
        HostTaskResult.from_python_result({"status": "passed", "colour": "green"})


# -- filters ---------------------------------------------------------------------------------
def test_filter_rules_as_genja_py() -> None:
    genja = runtime()
    ids = lambda g: g.host_ids()  # noqa: E731
    # plain key at any depth of fixed fields and data
    assert ids(genja.filter_by_key("role")) == ["r1", "r2", "r3"]  # data.site.role, data.devices[].role, data.role
    assert ids(genja.filter_by_key("platform")) == ["r1", "r2", "r3"]  # inherited from the group for r1, r3
    assert ids(genja.filter_by_key("port_count")) == ["r3"]
    assert ids(genja.filter_by_key("port")) == []  # not set anywhere
    # a dot path from the root, or from any nested mapping (through lists)
    assert ids(genja.filter_by_key("data.site.name")) == ["r1", "r2"]
    assert ids(genja.filter_by_key("site.name")) == ["r1", "r2"]
    assert ids(genja.filter_by_key("devices.role")) == ["r2"]
    assert ids(genja.filter_by_key("data.name")) == []  # not a path from the root nor nested
    assert ids(genja.filter_by_key("data__site__name")) == ["r1", "r2"]  # __ paths still work
    # regex search vs anchored
    assert ids(genja.filter_by_key_value("role", "core")) == ["r1", "r3"]  # matches core-2 too
    assert ids(genja.filter_by_key_value("role", "^core$")) == ["r3"]
    assert ids(genja.filter_by_key_value("data.site.name", "^fra")) == ["r1"]
    assert ids(genja.filter_by_key_value("site.name", "^ams$")) == ["r2"]
    assert ids(genja.filter_by_key_value("hostname", r"\.3$")) == ["r3"]
    assert ids(genja.filter_by_key_value("platform", "^ios$")) == ["r1", "r3"]
    assert ids(genja.filter_by_key_value("port_count", "^48$")) == ["r3"]  # numbers as text
    assert ids(genja.filter_by_key_value("tags", '"b"')) == ["r3"]  # a list is its JSON text
    assert ids(genja.filter_by_key_value("port_count", 48)) == ["r3"]  # non-strings: equality
    assert ids(genja.filter_by_key_value("", "x")) == []
    # an invalid regex is a clear error, before any host is looked at
    with pytest.raises(FilterError, match=r"invalid value regex") as err:
        genja.filter_by_key_value("role", "*")
    assert "filter_by_key_value('role', '*')" in str(err.value) and isinstance(err.value, ValueError)
    # chaining narrows; the original runtime is unchanged; the keyword filter is as before
    core = genja.filter_by_key_value("platform", "ios").filter_by_key("site")
    assert ids(core) == ["r1"]
    assert genja.host_count() == 3 and ids(genja) == ["r1", "r2", "r3"]
    assert ids(genja.filter(data__site__name="ams")) == ["r2"]
    assert ids(genja.filter(role="core")) == ["r3"]  # keyword filters compare whole values


# -- timing ----------------------------------------------------------------------------------
def test_every_host_result_is_timed_in_both_shapes() -> None:
    genja = Genja.builder(FLAT, PLAIN).with_plugin(EchoPlugin()).with_plugin(Audit()).build()
    results = genja.run_task(Show, max_depth=1)
    for node in (results, results.sub_tasks["child"]):
        for host_id, result in node.hosts.items():
            assert result.started_at is not None and result.finished_at is not None
            assert result.started_at.tzinfo is not None
            assert result.finished_at - result.started_at == timedelta(milliseconds=result.duration_ms or 0)
            normalized = node.to_dict()["hosts"][host_id]
            raw = node.to_dict(raw=True)["hosts"][host_id]["Passed"]
            for shape in (normalized, raw):
                assert shape["started_at"] == result.started_at.isoformat()
                assert shape["finished_at"] == result.finished_at.isoformat()
                assert shape["duration_ms"] == result.duration_ms
    # a sub-task runs inside its host's execution, and took its sleep
    for host_id in HOSTS:
        root, child = results[host_id], results.sub_tasks["child"][host_id]
        assert root.started_at <= child.started_at and child.finished_at <= root.finished_at  # type: ignore[operator]
        assert (child.duration_ms or 0) >= 2.0
    summary = results.task_summary()
    assert summary.started_at == min(r.started_at for r in results.hosts.values())  # type: ignore[type-var]
    assert summary.finished_at == max(r.finished_at for r in results.hosts.values())  # type: ignore[type-var]
    assert summary.duration_ms == (summary.finished_at - summary.started_at) / timedelta(milliseconds=1)  # type: ignore[operator]
    assert "duration_ms=" in str(summary)
    # skipped sub-tasks (not run) are timed too, with no duration
    shallow = genja.run_task(Show, max_depth=0)
    skip = shallow.sub_tasks["child"]["r1"]
    assert skip.reason == "max_depth_exceeded" and skip.duration_ms == 0 and skip.started_at is not None  # type: ignore[union-attr]
    # results built by hand have no timing, and their JSON does not pretend otherwise
    assert TaskSuccessResult().to_dict() == {"status": "passed"} and TaskSuccessResult().started_at is None
    assert TaskResults("empty").task_summary().duration_ms is None


@pytest.mark.usefixtures("prefect_api")
def test_host_task_runs_carry_the_results_timing() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, TaskRunFilter, TaskRunFilterName

    from genja_prefect.prefect.artifacts import read_run_artifacts, table_rows_of

    @task(name="timed_show")
    class TimedShow:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            time.sleep(0.01)
            return TaskSuccessResult(summary="ok")

    genja = Genja.from_hosts(HOSTS, GROUPS, settings={"prefect": {"flow_name": "genja-parity-timing", "host_runs": "per_host"}})
    results = genja.run_task(TimedShow)
    assert sorted(results.passed_hosts) == ["r1", "r2", "r3"]
    names = [f"timed_show@{h}" for h in HOSTS]
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while True:
            runs = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=names)))
            final = {r.name: r for r in runs if r.state is not None and r.state.is_final()}
            if len(final) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert sorted(final) == sorted(names)
        for host_id, result in results.hosts.items():
            run = final[f"timed_show@{host_id}"]
            assert run.start_time == result.started_at, host_id
            assert run.end_time == result.finished_at, host_id
            assert run.total_run_time == timedelta(milliseconds=result.duration_ms or 0)
        # the job's flow run and its root task's subflow run both belong to the job's flow
        flow_runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["genja-parity-timing"])))
        arts = read_run_artifacts(client, [fr.id for fr in flow_runs])
    table = next(a for a in arts if a.type == "table")
    rows = table_rows_of(table) or []
    assert {r["host"]: r["duration_ms"] for r in rows} == {h: r.duration_ms for h, r in results.hosts.items()}
    markdown = next(a for a in arts if a.type == "markdown")
    assert "- duration: " in markdown.data and "slowest host" in markdown.data


# -- settings ----------------------------------------------------------------------------------
def test_options_and_ssh_config(tmp_path: Path) -> None:
    config = InventoryConfig(plugin="FileInventoryPlugin", options=OptionsConfig(hosts_file="hosts.yaml"))  # type: ignore[arg-type]
    assert config.options == {"hosts_file": "hosts.yaml"}
    (tmp_path / "hosts.yaml").write_text("r1: {hostname: 10.0.0.1}\n")
    (tmp_path / "ssh_config").write_text("Host *\n  User admin\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text("inventory: {options: {hosts_file: hosts.yaml}}\nssh: {config_file: ssh_config}\n")
    loaded = Settings.from_file(settings)
    assert loaded.ssh.path(loaded.base_dir) == tmp_path / "ssh_config"
    SSHConfig(config_file=str(tmp_path / "ssh_config")).validate()
    settings.write_text("ssh: {config_file: missing_config}\n")
    with pytest.raises(genja_lib.SettingsError, match=r"settings.yaml: key 'ssh.config_file': SSH config file .*missing_config"):
        Settings.from_file(settings)

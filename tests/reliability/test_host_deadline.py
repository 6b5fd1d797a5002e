"""The whole-host deadline (``runner.host_timeout_s``, or a task's ``host_timeout_s`` option):
a host past it ends failed ``timeout``, its connection is closed, its worker takes the next host;
an async body is cancelled, a sync one is abandoned and its late result discarded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from genja_prefect import PluginManager
from genja_prefect.connection import ConnectionBase, ConnectionKey, ConnectionPluginBase, ResolvedConnectionParams
from genja_prefect.results import TaskFailureKind
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from .conftest import make_genja, one_result_per_host


class GateConnection(ConnectionBase):
    """A session whose command blocks until the connection is closed (as a socket read does)."""

    def __init__(self, key: ConnectionKey, plugin: "GatePlugin") -> None:
        self.key, self.plugin = key, plugin
        self.closed = threading.Event()

    def open(self, params: ResolvedConnectionParams) -> None:
        self.plugin.opened.append(self.key.host_id)

    def execute_command(self, command: str) -> str:
        if self.key.host_id.startswith("stuck") and self.closed.wait(60):
            raise ConnectionError("session closed while waiting for the device")
        return f"{self.key.host_id}: {command}"

    def close(self) -> ConnectionKey:
        self.plugin.closed.append(self.key.host_id)
        self.closed.set()
        return self.key

    def is_alive(self) -> bool:
        return not self.closed.is_set()


class GatePlugin(ConnectionPluginBase):
    name = "gate"

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def create(self, key: ConnectionKey) -> GateConnection:
        return GateConnection(key, self)


HOSTS = {"stuck1": {"platform": "ios"}, "ok1": {"platform": "ios"}, "ok2": {"platform": "ios"}, "ok3": {"platform": "ios"}}
SETTINGS: dict[str, Any] = {"prefect": {"enabled": False}, "runner": {"worker_count": 2, "host_timeout_s": 1.0}}


def test_host_blocked_in_io_times_out_its_connection_closes_and_the_worker_goes_on(plugin_manager: PluginManager) -> None:
    plugin = plugin_manager.register_plugin(GatePlugin())

    @task(name="show", connection_plugin_name="gate")
    class Show:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show version"))

    settings = {**SETTINGS, "runner": {"worker_count": 1, "host_timeout_s": 1.0}}  # one worker: freed or stuck
    results = make_genja(HOSTS, plugin_manager, settings).run_task(Show)
    one_result_per_host(results, HOSTS)
    stuck = results.hosts["stuck1"]
    assert stuck.status == "failed" and stuck.kind is TaskFailureKind.TIMEOUT and stuck.retryable
    assert "host_timeout_s=1" in stuck.message
    assert [h for h, r in results.hosts.items() if r.status == "passed"] == ["ok1", "ok2", "ok3"]
    assert sorted(plugin.closed) == sorted(plugin.opened)  # every session closed, the stuck one too


def test_sync_body_in_non_io_code_is_abandoned_and_its_late_result_discarded(plugin_manager: PluginManager) -> None:
    release = threading.Event()
    finished_late = threading.Event()

    @task(name="spin")
    class Spin:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            if host.id == "stuck1":
                release.wait(60)  # stands for code that cannot be interrupted
                finished_late.set()
            return TaskSuccessResult(result=host.id)

    results = make_genja(HOSTS, plugin_manager, SETTINGS).run_task(Spin)
    assert results.hosts["stuck1"].kind is TaskFailureKind.TIMEOUT
    assert all(results.hosts[h].status == "passed" for h in ("ok1", "ok2", "ok3"))
    release.set()
    assert finished_late.wait(30)
    assert results.hosts["stuck1"].status == "failed"  # the late result changed nothing


def test_async_body_is_cancelled_and_a_task_option_overrides_the_runner_setting(plugin_manager: PluginManager) -> None:
    cancelled: list[str] = []

    @task(name="wait", options={"host_timeout_s": 0.5})
    class Wait:
        async def start_async(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            if host.id == "stuck1":
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    cancelled.append(host.id)
                    raise
            return TaskSuccessResult(result=host.id)

    settings = {**SETTINGS, "runner": {"worker_count": 2, "host_timeout_s": 600}}
    results = make_genja(HOSTS, plugin_manager, settings).run_task(Wait)
    stuck = results.hosts["stuck1"]
    assert stuck.kind is TaskFailureKind.TIMEOUT and "host_timeout_s=0.5" in stuck.message
    deadline = threading.Event()
    for _ in range(100):
        if cancelled:
            break
        deadline.wait(0.1)
    assert cancelled == ["stuck1"]


def test_no_deadline_by_default(plugin_manager: PluginManager) -> None:
    @task(name="quick")
    class Quick:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(result=threading.current_thread().name)

    results = make_genja(HOSTS, plugin_manager, {"prefect": {"enabled": False}, "runner": {"worker_count": 1}}).run_task(Quick)
    # no helper thread: the body runs in the runner's own thread
    assert all(r.result == threading.current_thread().name for r in results.hosts.values())

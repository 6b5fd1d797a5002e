"""Engine behaviour (runners, sub-tasks, processors, connections, failures), without Prefect.

The same engine runs under Prefect; tests/test_prefect_engine.py checks the Prefect mapping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.connection import ConnectionBase, ConnectionOpenError, ConnectionPluginBase
from genja_prefect.processor import ProcessorPluginBase
from genja_prefect.runner import BatchRunnerPluginBase, RunnerPluginBase
from genja_prefect.task import (
    TaskFailureKind,
    TaskFailureResult,
    TaskSkipResult,
    TaskSuccessResult,
    task,
)

PLAIN = {"prefect": {"enabled": False}}


def hosts(n: int, **extra: Any) -> dict[str, dict[str, Any]]:
    return {f"h{i:03d}": {"hostname": f"10.0.0.{i}", "platform": "ios", **extra} for i in range(n)}


def runtime(n: int = 5, settings: dict[str, Any] | None = None, pm: genja_lib.PluginManager | None = None) -> genja_lib.Genja:
    s: dict[str, Any] = {"prefect": {"enabled": False}}
    for k, v in (settings or {}).items():
        s.setdefault(k, {}).update(v)
    return genja_lib.Genja.from_hosts(hosts(n), settings=s, plugin_manager=pm or genja_lib.PluginManager(discover=False))


class InFlight:
    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.order: list[str] = []

    def enter(self, host_id: str) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(host_id)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def test_threaded_never_exceeds_worker_count_and_runs_all() -> None:
    gauge = InFlight()

    @task(name="sleepy")
    class Sleepy:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            gauge.enter(host.id)
            time.sleep(0.01)
            gauge.leave()
            return TaskSuccessResult()

    res = runtime(40, {"runner": {"worker_count": 4}}).run_task(Sleepy)
    assert len(res.passed_hosts) == 40
    assert gauge.peak <= 4
    assert gauge.peak >= 2  # it really ran concurrently


def test_serial_runs_in_inventory_order_one_at_a_time() -> None:
    gauge = InFlight()

    @task(name="t")
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            gauge.enter(host.id)
            gauge.leave()
            return TaskSuccessResult()

    g = runtime(10).with_runner("serial")
    res = g.run_task(T)
    assert gauge.order == g.host_ids() and gauge.peak == 1
    assert list(res.hosts) == g.host_ids()


def test_subtasks_depth_and_parent_failure() -> None:
    @task(name="collect_logs")
    class Logs:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="logs")

    @task(name="validate_config", sub_tasks=[Logs])
    class Validate:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary=f"validated {host.hostname}")

    @task(name="deploy_config", sub_tasks=[Validate])
    class Deploy:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            if host.id == "h001":
                return TaskFailureResult(message="push rejected", kind=TaskFailureKind.COMMAND)
            return TaskSuccessResult(summary=f"deployed {host.hostname}", changed=True)

    g = runtime(3)
    full = g.run_task(Deploy, max_depth=5)
    v = full.sub_tasks["validate_config"]
    assert v["h000"].summary == "validated 10.0.0.0"
    assert v.sub_tasks["collect_logs"]["h002"].status == "passed"
    assert v["h001"].status == "skipped" and v["h001"].reason == "parent_failed"
    assert full.task_summary().tasks == 3

    root_only = g.run_task(Deploy, max_depth=0)
    skipped = root_only.sub_tasks["validate_config"]["h000"]
    assert skipped.reason == "max_depth_exceeded" and "max_depth 0" in skipped.message
    assert "collect_logs" not in root_only.sub_tasks["validate_config"].sub_tasks

    one = g.run_task(Deploy, max_depth=1)
    assert one.sub_tasks["validate_config"]["h000"].status == "passed"
    assert one.sub_tasks["validate_config"].sub_tasks["collect_logs"]["h000"].reason == "max_depth_exceeded"

    # max_depth=None takes runner.max_task_depth from settings
    from_settings = runtime(1, {"runner": {"max_task_depth": 0}}).run_task(Deploy)
    assert from_settings.sub_tasks["validate_config"]["h000"].reason == "max_depth_exceeded"


def test_raising_task_is_an_internal_failure_and_others_continue() -> None:
    @task(name="boom")
    class Boom:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            if host.id == "h002":
                raise ValueError("bad thing on h002")
            return TaskSuccessResult()

    res = runtime(5, {"runner": {"worker_count": 3}}).run_task(Boom)
    bad = res["h002"]
    assert bad.status == "failed" and bad.kind == TaskFailureKind.INTERNAL
    assert bad.message == "ValueError: bad thing on h002"
    assert "Traceback" in bad.details["traceback"] and "raise ValueError" in bad.details["traceback"]
    assert len(res.passed_hosts) == 4


def test_wrong_return_type_is_reported() -> None:
    @task(name="t")
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return {"ok": True}

    res = runtime(1).run_task(T)
    assert "returned dict" in res["h000"].message


def test_async_task_and_async_entry_points() -> None:
    @task(name="collect_facts_async")
    class Facts:
        async def start_async(self, task, host, context):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            return TaskSuccessResult(summary=f"collected facts from {host.hostname}", metadata={"c": context.connection()})

    g = runtime(20, {"runner": {"worker_count": 10}})
    res = g.run_task(Facts)
    assert len(res.passed_hosts) == 20

    async def main() -> Any:
        return await asyncio.gather(g.run_task_async(Facts), g.run_tasks_async([Facts, Facts]))

    one, many = asyncio.run(main())
    assert len(one.passed_hosts) == 20 and len(many) == 2


def test_sync_entry_point_inside_event_loop_errors() -> None:
    @task(name="t")
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    async def main() -> None:
        with pytest.raises(genja_lib.EventLoopError, match="run_task_async"):
            runtime(1).run_task(T)
        with pytest.raises(genja_lib.EventLoopError, match="run_tasks_async"):
            runtime(1).run_tasks([T])

    asyncio.run(main())


def test_empty_selection_returns_empty_result_and_processors_see_it() -> None:
    calls: list[str] = []

    class Rec(ProcessorPluginBase):
        name = "rec"

        def task_started(self, task, host_ids):  # type: ignore[no-untyped-def]
            calls.append(f"start:{task.name}:{len(host_ids)}")

        def task_completed(self, task, results):  # type: ignore[no-untyped-def]
            calls.append(f"done:{results.task_name}:{len(results.hosts)}")

    @task(name="t", processors=["rec"])
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Rec())
    g = runtime(3, pm=pm).filter(platform="nxos")
    assert not g.host_ids()
    res = g.run_task(T)
    assert res.task_name == "t" and res.hosts == {}
    assert calls == ["start:t:0", "done:t:0"]


def test_processor_order_and_errors_become_warnings() -> None:
    calls: list[str] = []

    class Audit(ProcessorPluginBase):
        name = "audit"

        def task_started(self, task, host_ids):  # type: ignore[no-untyped-def]
            calls.append(f"task_started {task.name}")

        def host_started(self, task, host):  # type: ignore[no-untyped-def]
            calls.append(f"host_started {task.name} {host.id}")

        def subtask_started(self, task, host):  # type: ignore[no-untyped-def]
            calls.append(f"subtask_started {task.name} {host.id}")

        async def subtask_completed(self, task, host, result):  # type: ignore[no-untyped-def]
            calls.append(f"subtask_completed {task.name} {host.id} {result.status}")

        def host_completed(self, task, host, result):  # type: ignore[no-untyped-def]
            result.metadata["audited"] = True
            calls.append(f"host_completed {task.name} {host.id} {result.status}")

        def task_completed(self, task, results):  # type: ignore[no-untyped-def]
            calls.append(f"task_completed {task.name} {len(results.hosts)}")

    class Broken(ProcessorPluginBase):
        name = "broken"

        def host_completed(self, task, host, result):  # type: ignore[no-untyped-def]
            raise RuntimeError("processor bug")

    @task(name="validate")
    class Validate:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    @task(name="deploy", processors=["audit", "broken"], sub_tasks=[Validate])
    class Deploy:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="ok")

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Audit())
    pm.register_plugin(Broken())
    res = runtime(1, pm=pm).run_task(Deploy)
    assert calls == [
        "task_started deploy",
        "host_started deploy h000",
        "subtask_started validate h000",
        "subtask_completed validate h000 passed",
        "host_completed deploy h000 passed",
        "task_completed deploy 1",
    ]
    r = res["h000"]
    assert r.status == "passed" and r.summary == "ok" and r.metadata == {"audited": True}
    assert r.warnings == ["processor 'broken' host_completed failed: RuntimeError: processor bug"]


def test_unknown_processor_fails_before_any_host_runs() -> None:
    ran = []

    @task(name="t", processors=["nope"])
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            ran.append(host.id)
            return TaskSuccessResult()

    with pytest.raises(genja_lib.PluginNotRegisteredError, match="unknown processor plugin 'nope'"):
        runtime(2).run_task(T)
    assert ran == []


# -- connections ------------------------------------------------------------------------
class Counter:
    def __init__(self) -> None:
        self.created: list[str] = []
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.lock = threading.Lock()


class FakeConn(ConnectionBase):
    def __init__(self, key, counter: Counter, fail: dict[str, BaseException]) -> None:  # type: ignore[no-untyped-def]
        self.key, self.counter, self.fail = key, counter, fail
        self.alive = False
        self.in_use = threading.Lock()

    def open(self, params):  # type: ignore[no-untyped-def]
        exc = self.fail.get(params.host_id)
        if exc is not None:
            raise exc
        self.alive = True
        self.counter.opened.append(params.host_id)

    def execute_command(self, command: str) -> str:
        assert self.in_use.acquire(blocking=False), "connection used by two executions at once"
        try:
            time.sleep(0.001)
            return f"{self.key.host_id}: ran {command}"
        finally:
            self.in_use.release()

    def close(self):  # type: ignore[no-untyped-def]
        self.alive = False
        self.counter.closed.append(self.key.host_id)
        return self.key

    def is_alive(self) -> bool:
        return self.alive


class FakePlugin(ConnectionPluginBase):
    name = "fake"

    def __init__(self, counter: Counter, fail: dict[str, BaseException] | None = None) -> None:
        self.counter, self.fail = counter, fail or {}

    def create(self, key):  # type: ignore[no-untyped-def]
        self.counter.created.append(key.host_id)
        return FakeConn(key, self.counter, self.fail)


@task(name="show", connection_plugin_name="fake")
class Show:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        return TaskSuccessResult(result=context.connection().execute_command("show version"))


@task(name="show_again", connection_plugin_name="fake", sub_tasks=[Show])
class ShowAgain:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        assert context.has_connection()
        return TaskSuccessResult(result=context.connection().execute_command("show clock"))


def test_connection_opened_once_per_host_reused_and_closed() -> None:
    counter = Counter()
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(FakePlugin(counter))
    res = runtime(6, {"runner": {"worker_count": 3}}, pm).run_tasks([Show, ShowAgain, Show])
    assert all(not r.failed for r in res)
    assert res[1].sub_tasks["show"]["h003"].result == "h003: ran show version"
    assert sorted(counter.opened) == sorted(hosts(6))  # once per host across 3 root tasks + sub-task
    assert sorted(counter.closed) == sorted(hosts(6))


def test_connection_failures_are_classified_with_retries() -> None:
    counter = Counter()
    fail: dict[str, BaseException] = {
        "h000": ConnectionRefusedError(111, "Connection refused"),
        "h001": ConnectionOpenError("bad password for 10.0.0.1:22", kind="authentication", retryable=False),
        "h002": TimeoutError("timed out"),
    }
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(FakePlugin(counter, fail))
    g = runtime(4, {"runner": {"max_connection_attempts": 3, "connection_backoff_ms": 1}}, pm)
    res = g.run_task(Show)
    refused, auth, slow = res["h000"], res["h001"], res["h002"]
    assert (refused.kind, refused.retryable) == (TaskFailureKind.CONNECTION, True)
    assert "after 3 attempts" in refused.message and "10.0.0.0" in refused.message
    assert (auth.kind, auth.retryable) == (TaskFailureKind.AUTHENTICATION, False)
    assert "after 1 attempt:" in auth.message  # never retried
    assert slow.kind == TaskFailureKind.TIMEOUT
    assert res["h003"].status == "passed"
    assert counter.created.count("h000") == 3 and counter.created.count("h001") == 1
    # every half-open attempt was closed too: nothing is left open
    assert counter.closed.count("h003") == 1 and counter.closed.count("h000") == 3


def test_dead_connection_is_reopened_once() -> None:
    counter = Counter()
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(FakePlugin(counter))

    @task(name="kill", connection_plugin_name="fake")
    class Kill:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            context.connection().alive = False
            return TaskSuccessResult()

    res = runtime(1, pm=pm).run_tasks([Show, Kill, Show])
    assert all(not r.failed for r in res)
    assert counter.opened == ["h000", "h000"]


def test_unknown_connection_plugin_fails_each_host() -> None:
    @task(name="t", connection_plugin_name="nope")
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    res = runtime(2).run_task(T)
    assert res.failed_hosts == ["h000", "h001"] or set(res.failed_hosts) == {"h000", "h001"}
    assert res["h000"].kind == TaskFailureKind.VALIDATION and "unknown connection plugin 'nope'" in res["h000"].message


def test_retry_of_retryable_failures() -> None:
    attempts: dict[str, int] = {}

    @task(name="flaky")
    class Flaky:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            attempts[host.id] = attempts.get(host.id, 0) + 1
            if host.id == "h000" and attempts[host.id] < 3:
                return TaskFailureResult(message="busy", kind="external", retryable=True)
            if host.id == "h001":
                return TaskFailureResult(message="wrong", kind="validation", retryable=False)
            return TaskSuccessResult()

    g = runtime(2, {"runner": {"retry": {"allow": True, "max_attempts": 3, "delay_ms": 1}}})
    res = g.run_task(Flaky)
    assert res["h000"].status == "passed" and res["h000"].attempts == 3
    assert res["h001"].status == "failed" and attempts["h001"] == 1
    assert res.to_dict()["hosts"]["h000"]["attempts"] == 3


# -- custom runners (the runners page) -----------------------------------------------------
class FirstHostOnlyRunner(RunnerPluginBase):
    name = "first_host_only"

    def run_task(self, task, hosts, connection_resolver, runner_config, max_depth):  # type: ignore[no-untyped-def]
        _, first_host = next(iter(hosts.items()))
        return task.run_on_host(first_host, connection_resolver=connection_resolver, max_depth=max_depth)


class AsyncFirstHostOnlyRunner(RunnerPluginBase):
    name = "async_first_host_only"

    async def run_task(self, task, hosts, connection_resolver, runner_config, max_depth):  # type: ignore[no-untyped-def]
        _, first_host = next(iter(hosts.items()))
        return task.run_on_host(first_host, connection_resolver=connection_resolver, max_depth=max_depth)


class ReverseBatch(BatchRunnerPluginBase):
    name = "reverse_batch"

    def run_tasks(self, tasks, hosts, connection_resolver, runner_config, max_depth):  # type: ignore[no-untyped-def]
        out = []
        for t in tasks:
            results = genja_lib.TaskResults(t.name)
            for host in reversed(list(hosts.values())):
                results.merge(t.run_on_host(host, connection_resolver=connection_resolver, max_depth=max_depth))
            out.append(results)
        return out


@pytest.mark.parametrize("runner", [FirstHostOnlyRunner, AsyncFirstHostOnlyRunner])
def test_custom_runners_run_first_host_only(runner: type) -> None:
    counter = Counter()
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(runner())
    pm.register_plugin(FakePlugin(counter))

    @task(name="async_show", connection_plugin_name="fake", sub_tasks=[Show])
    class AsyncShow:
        async def start_async(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(result=context.connection().execute_command("x"))

    res = runtime(3, pm=pm).with_runner(runner.name).run_task(AsyncShow)
    assert list(res.hosts) == ["h000"] and res["h000"].status == "passed"
    assert res.sub_tasks["show"]["h000"].status == "passed"
    assert counter.opened == ["h000"] and counter.closed == ["h000"]


def test_batch_runner_run_tasks() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(ReverseBatch())
    counter = Counter()
    pm.register_plugin(FakePlugin(counter))
    res = runtime(3, pm=pm).with_runner("reverse_batch").run_tasks([Show, Show])
    assert len(res) == 2 and list(res[0].hosts) == ["h002", "h001", "h000"]
    assert counter.opened == ["h002", "h001", "h000"]


def test_filters() -> None:
    g = genja_lib.Genja.from_hosts(
        {
            "r1": {"platform": "ios", "groups": ["core"], "data": {"site": "fra", "roles": ["pe", "p"]}},
            "r2": {"platform": "eos", "groups": ["edge"], "data": {"site": "ams"}},
            "r3": {"platform": "ios", "groups": ["edge", "core"]},
        },
        {"core": {}, "edge": {"data": {"tier": 2}}},
        settings=PLAIN,
    )
    assert g.filter(platform="ios", groups__contains="core").host_ids() == ["r1", "r3"]
    assert g.filter(site="fra").host_ids() == ["r1"]
    assert g.filter(data__site__in=["fra", "ams"]).host_ids() == ["r1", "r2"]
    assert g.filter(roles__contains="pe").host_ids() == ["r1"]
    assert g.filter(tier=2).host_ids() == ["r2", "r3"]
    assert g.filter(lambda h: h.id != "r1", platform="ios").host_ids() == ["r3"]
    assert g.filter_hosts(lambda h: h.platform == "eos").host_ids() == ["r2"]
    assert g.filter_by_key("site").host_ids() == ["r1", "r2"]
    assert g.filter_by_key_value("site", "^a").host_ids() == ["r2"]
    assert g.filter_by_key_value("groups", "core").host_ids() == ["r1", "r3"]
    assert g.filter(platform="ios").filter(site="fra").host_count() == 1
    assert g.host_count() == 3  # the original is unchanged


def test_logging_settings_write_the_log_file(tmp_path: Any) -> None:
    @task(name="flaky_open", connection_plugin_name="fake")
    class UsesFake:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    counter = Counter()
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(FakePlugin(counter, {"h000": ConnectionRefusedError(111, "refused")}))
    (tmp_path / "hosts.yaml").write_text("h000: {hostname: 10.0.0.1}\n")
    (tmp_path / "settings.yaml").write_text(
        "inventory: {options: {hosts_file: hosts.yaml}}\n"
        "runner: {max_connection_attempts: 2, connection_backoff_ms: 1}\n"
        "prefect: {enabled: false}\n"
        "logging: {level: INFO, log_file: genja.log}\n"
    )
    genja = genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml", plugin_manager=pm)
    assert genja.run_task(UsesFake)["h000"].kind == TaskFailureKind.CONNECTION
    text = (tmp_path / "genja.log").read_text()
    assert "opening fake@h000 failed (attempt 1/2, connection)" in text


def test_many_hosts_opening_and_closing_concurrently_all_get_results() -> None:
    # Regression: a host's sessions are closed right after its last root task while other
    # threads still open theirs; the cache must stay consistent and no host may be lost.
    counter = Counter()
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(FakePlugin(counter))
    g = runtime(400, {"runner": {"worker_count": 64}}, pm)
    for _ in range(3):
        res = g.run_task(Show)
        assert len(res.passed_hosts) == 400
    assert len(counter.opened) == len(counter.closed) == 1200

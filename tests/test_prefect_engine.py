"""The Prefect mapping, checked through the Prefect API of a real (temporary) server:
flow run per run_tasks, subflow per root task, a task run per host with name and tags,
artifacts, final states, per-host logs, and the worker_count limit."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

import pytest

import genja_prefect as genja_lib
from genja_prefect.task import TaskFailureResult, TaskSuccessResult, task

pytestmark = pytest.mark.usefixtures("prefect_api")


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _read_flow_runs(client: Any, **filters: Any) -> list[Any]:
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC, limit=200, **filters)


def _subflows(client: Any, parent: UUID) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    return _read_flow_runs(
        client, flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]))
    )


def _task_runs(client: Any, flow_run_id: UUID, expected: int, timeout: float = 120) -> list[Any]:
    """Task runs of a flow run once `expected` of them are in a final state (the server
    records client-side task runs from events, asynchronously)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout
    while True:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200, sort=TaskRunSort.NAME_ASC)
        runs = [r for r in runs if r.state and r.state.is_final()]
        if len(runs) >= expected or time.monotonic() > deadline:
            return runs
        time.sleep(0.25)


class Gauge:
    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_flow_subflows_task_runs_tags_artifacts_and_logs() -> None:
    from prefect import get_run_logger

    gauge = Gauge()

    @task(name="collect_facts")
    class Collect:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            with gauge:
                time.sleep(0.02)
            get_run_logger().warning("facts from %s", host.id)  # tests run with PREFECT_LOGGING_LEVEL=WARNING
            if host.id == "r3":
                return TaskFailureResult(message="show version failed", kind="command")
            return TaskSuccessResult(summary=f"collected {host.id}")

    @task(name="backup_config")
    class Backup:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="saved", changed=host.id == "r1")

    hosts = {f"r{i}": {"platform": "ios" if i % 2 else "eos", "groups": ["core", "site-a"]} for i in range(8)}
    genja = genja_lib.Genja.from_hosts(
        hosts, {"core": {}, "site-a": {}},
        settings={"runner": {"worker_count": 3}, "prefect": {"flow_name": "genja-run-test1"}},
    )
    results = genja.run_tasks([Collect, Backup])
    assert results[0].failed_hosts == ["r3"] and len(results[1].passed_hosts) == 8
    assert gauge.peak <= 3

    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-test1")
        # prefect.fail_on: any (the default): one failed host makes the run red, and says which
        assert outer.state.is_failed()
        assert "1 of 8 hosts failed: r3" in outer.state.message
        assert outer.name == "collect_facts, backup_config all (8 hosts)"
        subs = sorted(_subflows(client, outer.id), key=lambda r: r.start_time)
        assert [s.name.split(" (")[0] for s in subs] == ["collect_facts", "backup_config"]
        collect_runs = _task_runs(client, subs[0].id, 8)
        names = sorted(r.name for r in collect_runs)
        assert names == sorted(f"collect_facts@r{i}" for i in range(8))
        r1 = next(r for r in collect_runs if r.name == "collect_facts@r1")
        assert {"host:r1", "platform:ios", "group:core", "group:site-a"} <= set(r1.tags)
        r3 = next(r for r in collect_runs if r.name == "collect_facts@r3")
        assert r3.state.is_failed() and "show version failed" in r3.state.message
        assert r1.state.is_completed()
        # artifacts: a table per root task with one row per host
        from genja_prefect.prefect.artifacts import read_run_artifacts, table_rows_of

        arts = read_run_artifacts(client, [subs[0].id])
        table = next(a for a in arts if a.type == "table")
        rows = table_rows_of(table)
        assert rows is not None and len(rows) == 8
        assert rows[0]["host"] == "r3"  # failed hosts first
        row3 = next(r for r in rows if r["host"] == "r3")
        assert row3["status"] == "failed" and row3["failure_kind"] == "command"
        assert any(a.type == "markdown" and "r3" in (a.data or "") for a in arts)
        # per-host log lines are attached to the host's task run
        from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId
        from prefect.client.schemas.sorting import LogSort

        deadline = time.monotonic() + 60
        logs: list[Any] = []
        while time.monotonic() < deadline:
            logs = client.read_logs(
                log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[r1.id])), limit=200, offset=0,
                sort=LogSort.TIMESTAMP_ASC,
            )
            if any("facts from r1" in log.message for log in logs):
                break
            time.sleep(0.5)
        assert any("facts from r1" in log.message for log in logs)


def _flow_runs_of_flow(client: Any, flow_name: str) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterParentTaskRunId

    return _read_flow_runs(
        client,
        flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
        flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True)),
    )


def test_every_host_failed_means_failed_flow_run_and_results_still_returned() -> None:
    @task(name="always_fails")
    class Fails:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            raise RuntimeError("device on fire")

    genja = genja_lib.Genja.from_hosts({"a": {}, "b": {}}, settings={"prefect": {"flow_name": "genja-run-test2"}})
    results = genja.run_task(Fails)
    assert set(results.failed_hosts) == {"a", "b"}
    assert results["a"].kind.value == "internal" and "device on fire" in results["a"].message
    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-test2")
        assert outer.state.is_failed() and "2 of 2 hosts failed: a, b" in outer.state.message


def test_batch_mode_one_task_run_per_batch_results_per_host() -> None:
    @task(name="tiny")
    class Tiny:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    hosts = {f"h{i:03d}": {} for i in range(25)}
    genja = genja_lib.Genja.from_hosts(
        hosts, settings={"prefect": {"flow_name": "genja-run-test3", "host_runs": "batch", "batch_size": 10}}
    )
    results = genja.run_task(Tiny)
    assert len(results.passed_hosts) == 25
    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-test3")
        (sub,) = _subflows(client, outer.id)
        runs = _task_runs(client, sub.id, 3)
        assert sorted(r.name for r in runs) == [
            "tiny@batch-1 (hosts 1-10)", "tiny@batch-2 (hosts 11-20)", "tiny@batch-3 (hosts 21-25)",
        ]


def test_inside_a_users_flow_root_tasks_are_subflows_of_it() -> None:
    from prefect import flow

    @task(name="t")
    class T:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    @flow(name="my-network-job")
    def my_job() -> dict[str, Any]:
        genja = genja_lib.Genja.from_hosts({"a": {}})
        return genja.run_task(T).to_dict()

    out = my_job()
    assert out["hosts"]["a"]["status"] == "passed"
    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "my-network-job")
        assert [s.name.split(" (")[0] for s in _subflows(client, outer.id)] == ["t"]


def test_secret_never_reaches_prefect() -> None:
    secret = "pw-7f3a9c1e-unique"

    @task(name="leaky")
    class Leaky:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            raise ConnectionError(f"login with {secret} refused")  # a library that echoes the password

    genja = genja_lib.Genja.from_hosts(
        {"a": {"password": secret}}, settings={"prefect": {"flow_name": "genja-run-test5"}}
    )
    results = genja.run_task(Leaky)
    assert secret not in results.to_json() and secret not in results.to_json(raw=True)
    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-test5")
        (sub,) = _subflows(client, outer.id)
        (run,) = _task_runs(client, sub.id, 1)
        assert secret not in (run.state.message or "")
        assert "***" in run.state.message


def test_a_long_host_shows_running_first_and_a_quick_one_lands_in_its_final_state() -> None:
    """The UI sees a host as Running while it works; a host done before its Running event
    was sent is recorded with its final state alone (one event for the server, not two)."""
    release = threading.Event()

    @task(name="history")
    class History:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            if host.id == "slow":
                # Wait until the server has this host's task run (Running), bounded.
                release.wait(60)
            return TaskSuccessResult(summary=host.id)

    genja = genja_lib.Genja.from_hosts(
        {"quick": {}, "slow": {}}, settings={"prefect": {"flow_name": "genja-run-history", "host_runs": "per_host"}}
    )

    def watch() -> None:
        with _client() as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not release.is_set():
                for outer in _flow_runs_of_flow(client, "genja-run-history"):
                    for sub in _subflows(client, outer.id):
                        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
                        from prefect.client.schemas.sorting import TaskRunSort

                        runs = client.read_task_runs(
                            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[sub.id])),
                            limit=10,
                            sort=TaskRunSort.NAME_ASC,
                        )
                        if any(r.name == "history@slow" and r.state and r.state.is_running() for r in runs):
                            release.set()
                time.sleep(0.2)
            release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    results = genja.run_task(History)
    watcher.join()
    assert results.passed_hosts == ["quick", "slow"]

    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-history")
        (sub,) = _subflows(client, outer.id)
        runs = {r.name: r for r in _task_runs(client, sub.id, 2)}
        slow = [s.type.value for s in client.read_task_run_states(runs["history@slow"].id)]
        quick = [s.type.value for s in client.read_task_run_states(runs["history@quick"].id)]
    assert slow == ["RUNNING", "COMPLETED"]
    assert quick in (["COMPLETED"], ["RUNNING", "COMPLETED"])
    assert runs["history@quick"].start_time is not None and runs["history@quick"].end_time is not None


def test_processors_run_between_the_prefect_states_they_mirror() -> None:
    """host_completed runs before the host's final Prefect state is recorded and
    task_completed before the artifacts: what a processor changes is what the UI shows; a
    processor that raises leaves a warning, never a lost result or a missing task run."""
    from genja_prefect.processor import ProcessorPluginBase

    class Stamp(ProcessorPluginBase):
        name = "stamp"

        def host_completed(self, task, host, result):  # type: ignore[no-untyped-def]
            if host.id == "r2":
                raise RuntimeError("audit store down")
            result.summary = f"{result.summary} (audited)"

        def task_completed(self, task, results):  # type: ignore[no-untyped-def]
            results.hosts["r1"].summary += " [final]"

    @task(name="stamped", processors=["stamp"])
    class Stamped:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary=f"saved {host.id}")

    plugins = genja_lib.PluginManager()
    plugins.register_plugin(Stamp())
    genja = genja_lib.Genja.from_hosts(
        {"r1": {}, "r2": {}}, settings={"prefect": {"flow_name": "genja-run-stamped"}}, plugin_manager=plugins
    )
    results = genja.run_task(Stamped)
    assert results["r1"].summary == "saved r1 (audited) [final]"
    assert results["r2"].status == "passed" and "audit store down" in results["r2"].warnings[0]

    from genja_prefect.prefect.artifacts import read_run_artifacts, table_rows_of

    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-stamped")
        (sub,) = _subflows(client, outer.id)
        runs = {r.name: r for r in _task_runs(client, sub.id, 2)}
        rows = table_rows_of(next(a for a in read_run_artifacts(client, [sub.id]) if a.type == "table")) or []
    # the host's Prefect state carries host_completed's change; the artifact, task_completed's too
    assert runs["stamped@r1"].state.message == "saved r1 (audited)"
    assert runs["stamped@r2"].state.is_completed() and runs["stamped@r2"].state.message == "saved r2"
    assert {r["host"]: r["summary"] for r in rows} == {"r1": "saved r1 (audited) [final]", "r2": "saved r2"}


def test_the_threaded_runners_run_task_is_what_runs() -> None:
    # The built-in runner is a plugin like any other: replacing "threaded" with a subclass
    # shows the engine calls its run_task for each root task (no special case around it).
    from genja_prefect.runners.threaded import ThreadedRunner

    calls: list[tuple[str, int]] = []

    class CountingThreaded(ThreadedRunner):
        def run_task(self, task, hosts, connection_resolver, runner_config, max_depth):  # type: ignore[no-untyped-def]
            calls.append((task.name, len(hosts)))
            return super().run_task(task, hosts, connection_resolver, runner_config, max_depth)

    @task(name="noop")
    class Noop:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="ok")

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(CountingThreaded())
    genja = genja_lib.Genja.from_hosts({f"h{i}": {} for i in range(5)}, settings={"prefect": {"enabled": False}}, plugin_manager=pm)
    results = genja.run_tasks([Noop, Noop])
    assert calls == [("noop", 5), ("noop", 5)]
    assert all(len(r.passed_hosts) == 5 for r in results)


def test_a_run_tasks_runner_gets_a_subflow_per_root_task_with_its_hosts() -> None:
    # A runner scheduling the whole task list itself (interleaving root tasks host by host)
    # still shows one subflow per root task, each holding its own hosts' task runs.
    from genja_prefect.runner import BatchRunnerPluginBase

    class Interleaving(BatchRunnerPluginBase):
        name = "interleaving"

        def run_tasks(self, tasks, hosts, connection_resolver, runner_config, max_depth):  # type: ignore[no-untyped-def]
            out = [genja_lib.TaskResults(t.name) for t in tasks]
            for host in hosts.values():
                for tree, t in zip(out, tasks):
                    tree.merge(t.run_on_host(host, connection_resolver=connection_resolver, max_depth=max_depth))
            return out

    @task(name="first_root")
    class First:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="one")

    @task(name="second_root")
    class Second:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            if host.id == "h1":
                return TaskFailureResult(message="boom", kind="command")
            return TaskSuccessResult(summary="two")

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Interleaving())
    genja = genja_lib.Genja.from_hosts(
        {f"h{i}": {} for i in range(3)},
        settings={"runner": {"plugin": "interleaving"}, "prefect": {"flow_name": "genja-run-interleaving"}},
        plugin_manager=pm,
    )
    results = genja.run_tasks([First, Second])
    assert results[1].failed_hosts == ["h1"]
    with _client() as client:
        (outer,) = _flow_runs_of_flow(client, "genja-run-interleaving")
        subs = {s.name.split(" (")[0]: s for s in _subflows(client, outer.id)}
        assert set(subs) == {"first_root", "second_root"}
        # second_root's h1 failed: its subflow is red (fail_on: any), first_root's is not
        assert subs["first_root"].state.is_completed() and subs["second_root"].state.is_failed()
        first = _task_runs(client, subs["first_root"].id, 3)
        second = _task_runs(client, subs["second_root"].id, 3)
        assert sorted(r.name for r in first) == ["first_root@h0", "first_root@h1", "first_root@h2"]
        assert sorted(r.name for r in second) == ["second_root@h0", "second_root@h1", "second_root@h2"]
        assert next(r for r in second if r.name == "second_root@h1").state.is_failed()

"""HostRunRecorder against a real (temporary, SQLite) Prefect API: task runs, states, logs.

Uses the session's ``prefect_api`` fixture (tests/conftest.py). Everything is read back
through the API, as the Prefect UI would read it.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import pytest

from genja_prefect.prefect.task_runs import (
    HostRun,
    HostRunRecorder,
    NoFlowRunError,
    flow_heartbeats_disabled,
)

T = TypeVar("T")

N_HOSTS = 50


def _failed(i: int) -> bool:
    return i % 7 == 3


def _eventually(fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 120.0) -> T:
    # The server writes task runs and logs in the background: poll, do not time.
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never appeared in the Prefect API; last read: {value!r}")
        time.sleep(0.25)


def _task_runs(flow_run_id: UUID) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.NAME_ASC,  # prefect 3.8.8's sync client sends sort=None otherwise (422)
            limit=200,
        )


def _log_messages(task_run_id: UUID) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run_id])), limit=50, offset=0)
    return [log.message for log in logs]


@pytest.fixture(scope="module")
def recorded(prefect_api: str) -> dict[str, Any]:
    """One flow run that records N_HOSTS host runs from 8 worker threads, some failed."""
    from prefect import flow, get_run_logger, runtime
    from prefect.context import FlowRunContext

    @flow(name="test-prefect-runs")
    def collect() -> dict[str, Any]:
        recorder = HostRunRecorder()

        def host(i: int) -> HostRun:
            host_id = f"r{i:02d}"
            run = recorder.start(
                f"collect_facts@{host_id}",
                task_key="genja.collect_facts",
                tags=[f"host:{host_id}", "platform:ios", "group:core", f"group:site{i % 3}"],
            )
            # WARNING: the suite runs with PREFECT_LOGGING_LEVEL=WARNING.
            recorder.logger(run).warning("connected to %s", host_id)
            with recorder.context(run):
                get_run_logger().warning("via get_run_logger on %s", host_id)
                assert runtime.task_run.name == run.name
                assert runtime.flow_run.id == str(recorder.flow_run_id)
            if _failed(i):
                recorder.finish(run, ok=False, message=f"failed (connection): {host_id} refused")
            else:
                recorder.finish(run, ok=True, message=f"{i} interfaces")
            return run

        with ThreadPoolExecutor(8) as pool:
            # each host in a copy of the flow's context, as the engine runs them
            futures = [pool.submit(contextvars.copy_context().run, host, i) for i in range(N_HOSTS)]
            runs = [future.result() for future in futures]
        assert recorder.flush()
        ctx = FlowRunContext.get()
        assert ctx is not None and ctx.flow_run is not None
        return {"flow_run_id": ctx.flow_run.id, "runs": runs, "recorder": recorder}

    out = collect()
    assert out["recorder"].wait_until_recorded(timeout=240)
    assert out["recorder"].dropped == 0
    return out


def test_every_host_is_one_task_run_named_task_at_host(recorded: dict[str, Any]) -> None:
    task_runs = _task_runs(recorded["flow_run_id"])
    assert sorted(tr.name for tr in task_runs) == [f"collect_facts@r{i:02d}" for i in range(N_HOSTS)]
    assert {tr.id for tr in task_runs} == {run.id for run in recorded["runs"]}
    assert all(tr.flow_run_id == recorded["flow_run_id"] for tr in task_runs)
    assert all(tr.task_key == "genja.collect_facts" for tr in task_runs)


def test_task_runs_carry_host_platform_and_group_tags(recorded: dict[str, Any]) -> None:
    by_name = {tr.name: tr for tr in _task_runs(recorded["flow_run_id"])}
    assert sorted(by_name["collect_facts@r04"].tags) == ["group:core", "group:site1", "host:r04", "platform:ios"]
    assert all(f"host:{name.split('@')[1]}" in tr.tags for name, tr in by_name.items())


def test_failed_hosts_are_failed_task_runs_with_the_message(recorded: dict[str, Any]) -> None:
    by_name = {tr.name: tr for tr in _task_runs(recorded["flow_run_id"])}
    for i in range(N_HOSTS):
        tr = by_name[f"collect_facts@r{i:02d}"]
        if _failed(i):
            assert tr.state.type.value == "FAILED"
            assert tr.state.message == f"failed (connection): r{i:02d} refused"
        else:
            assert tr.state.type.value == "COMPLETED"
            assert tr.state.message == f"{i} interfaces"
        assert tr.start_time is not None and tr.end_time is not None
        assert tr.end_time >= tr.start_time
        assert tr.run_count == 1


def test_state_history_is_pending_running_final(recorded: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    by_name = {tr.name: tr for tr in _task_runs(recorded["flow_run_id"])}
    with get_client(sync_client=True) as client:
        ok = [s.type.value for s in client.read_task_run_states(by_name["collect_facts@r00"].id)]
        bad = [s.type.value for s in client.read_task_run_states(by_name["collect_facts@r03"].id)]
    assert ok == ["PENDING", "RUNNING", "COMPLETED"]
    assert bad == ["PENDING", "RUNNING", "FAILED"]


def test_log_lines_land_on_their_own_task_run(recorded: dict[str, Any]) -> None:
    run = next(r for r in recorded["runs"] if r.name == "collect_facts@r05")
    messages = _eventually(
        lambda: _log_messages(run.id),
        lambda msgs: len(msgs) >= 2,
        "log lines of collect_facts@r05",
    )
    assert sorted(messages) == ["connected to r05", "via get_run_logger on r05"]


def test_recorder_outside_a_flow_run_says_what_to_do() -> None:
    with pytest.raises(NoFlowRunError, match="flow_run_id="):
        HostRunRecorder()


def test_finishing_twice_is_an_error_and_close_crashes_unfinished_runs(prefect_api: str) -> None:
    from prefect import flow
    from prefect.context import FlowRunContext

    @flow(name="test-prefect-runs-close")
    def partial() -> tuple[UUID, HostRun, HostRun, HostRunRecorder]:
        recorder = HostRunRecorder()
        done = recorder.start("ping@a", task_key="genja.ping", tags=["host:a"])
        left = recorder.start("ping@b", task_key="genja.ping", tags=["host:b"])
        recorder.finish(done, ok=True, message="passed")
        with pytest.raises(ValueError, match="ping@a"):
            recorder.finish(done, ok=False)
        recorder.close(message="cancelled before ping@b ended")
        ctx = FlowRunContext.get()
        assert ctx is not None and ctx.flow_run is not None
        return ctx.flow_run.id, done, left, recorder

    flow_run_id, _done, _left, recorder = partial()
    assert recorder.wait_until_recorded(timeout=240)
    states = {tr.name: (tr.state.type.value, tr.state.message) for tr in _task_runs(flow_run_id)}
    assert states == {
        "ping@a": ("COMPLETED", "passed"),
        "ping@b": ("CRASHED", "cancelled before ping@b ended"),
    }


def test_recorder_for_an_explicit_flow_run_id(prefect_api: str) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    @flow(name="test-prefect-runs-explicit")
    def placeholder() -> None:
        return None

    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(placeholder, state=Running())
    recorder = HostRunRecorder(flow_run.id, flow_run_name=flow_run.name, flow_name="test-prefect-runs-explicit")
    run = recorder.start("ping@c", task_key="genja.ping", tags=["host:c", "skipped"])
    adapter = recorder.logger(run)
    assert isinstance(adapter, logging.LoggerAdapter)
    assert adapter.extra is not None and adapter.extra["task_run_id"] == str(run.id)
    assert recorder.logger(run) is adapter
    recorder.finish(run, ok=True, message="skipped (no ping on this platform)", state_name="Skipped")
    assert recorder.wait_until_recorded(timeout=240)
    (task_run,) = _task_runs(flow_run.id)
    assert (task_run.name, task_run.state.type.value, task_run.state.name) == ("ping@c", "COMPLETED", "Skipped")


def test_flow_heartbeats_disabled_only_inside_the_block() -> None:
    from prefect.settings import get_current_settings

    before = get_current_settings().flows.heartbeat_frequency
    with flow_heartbeats_disabled():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before

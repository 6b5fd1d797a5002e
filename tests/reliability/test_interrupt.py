"""A run interrupted (Ctrl-C: SIGINT to the main thread) while hosts are in flight: the hosts
in flight finish, the hosts not started yet end skipped with reason ``cancelled``, every
connection is closed, and the interrupt reaches the caller. With Prefect on, the flow run
does not stay Running.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from genja_prefect import PluginManager
from genja_prefect.engine.execution import current_env, observe_progress, stop_observing_progress
from genja_prefect.lab.lab import Lab
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from .conftest import LeakProbe, lab_ssh, make_genja, wait_for

HOSTS = ["sim-ios1", "sim-ios2", "sim-ios3", "sim-ios4", "sim-ios5", "sim-ios6", "sim-eos1"]
WORKERS = 2


class Interrupter:
    """Sends SIGINT to the main thread once ``WORKERS`` hosts are in flight, then lets them end
    once the engine has seen the interrupt (the run's ``cancelled`` flag is set)."""

    def __init__(self) -> None:
        self.in_flight: list[str] = []
        self.env: Any = None
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rel-interrupter", daemon=True)

    def started(self, host_id: str) -> None:
        with self.lock:
            self.in_flight.append(host_id)
            if self.env is None:
                self.env = current_env()
        if not self.release.wait(60):
            raise TimeoutError("the interrupt never came")

    def _run(self) -> None:
        try:
            assert wait_for(lambda: len(self.in_flight) >= WORKERS, 60), "hosts never got in flight"
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
            assert wait_for(lambda: self.env is not None and self.env.cancelled.is_set(), 60), "not cancelled"
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.release.set()


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the main thread for the test, whatever was installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupted_run(lab: Lab, plugin_manager: PluginManager, settings: dict[str, Any],
                    task_name: str = "hold") -> dict[str, Any]:
    interrupter = Interrupter()

    @task(name=task_name, connection_plugin_name="scrapli")
    class Hold:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            output = context.connection().execute_command("show version")  # a live session
            interrupter.started(host.id)
            return TaskSuccessResult(result=output.splitlines()[0])

    hosts = {name: lab_ssh(lab, name) for name in HOSTS}
    probe = LeakProbe({lab.host(h).port for h in hosts}, lab, HOSTS, check_threads=False)
    seen: dict[str, list[Any]] = {}

    def progress(task_name: str, host_id: str, result: Any) -> None:
        seen.setdefault(host_id, []).append(result)

    token = observe_progress(progress)
    interrupter.thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            make_genja(hosts, plugin_manager, settings).run_task(Hold)
            time.sleep(5)  # not reached: the interrupt arrives while hosts are in flight
    finally:
        interrupter.release.set()
        interrupter.thread.join()
        stop_observing_progress(token)
    assert interrupter.error is None, interrupter.error
    probe.assert_clean()  # the sessions of the hosts in flight were closed
    return {"seen": seen, "in_flight": list(interrupter.in_flight)}


def check_outcome(outcome: dict[str, Any]) -> None:
    seen, in_flight = outcome["seen"], outcome["in_flight"]
    assert len(in_flight) == WORKERS
    assert sorted(seen) == sorted(HOSTS), seen  # every host ended with exactly one result
    assert all(len(r) == 1 for r in seen.values()), seen
    for host_id, (result,) in seen.items():
        if host_id in in_flight:
            assert result.status == "passed", (host_id, result)
        else:
            assert result.status == "skipped" and result.reason == "cancelled", (host_id, result)


def test_interrupt_with_hosts_in_flight_closes_everything(
    rel_lab: Lab, plugin_manager: PluginManager, sigint_raises: None
) -> None:
    settings = {"prefect": {"enabled": False}, "runner": {"worker_count": WORKERS}}
    check_outcome(interrupted_run(rel_lab, plugin_manager, settings))


def _flow_runs(flow_name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        # prefect 3.8.8's client sends sort=null unless given, which its server rejects
        return list(client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                          sort=FlowRunSort.START_TIME_ASC, limit=50))


def test_interrupt_with_prefect_closes_everything_and_ends_the_flow_run(
    rel_lab: Lab, plugin_manager: PluginManager, sigint_raises: None, prefect_api: str
) -> None:
    import uuid

    suffix = uuid.uuid4().hex[:8]
    flow_name, task_name = f"genja-rel-interrupt-{suffix}", f"hold-{suffix}"
    settings = {"prefect": {"enabled": True, "flow_name": flow_name}, "runner": {"worker_count": WORKERS}}
    check_outcome(interrupted_run(rel_lab, plugin_manager, settings, task_name))
    # neither the run nor the root task's subflow is left Running, nor reported Completed
    # the root task's subflow run belongs to the job's flow too: the top-level run is the job's
    runs = _flow_runs(flow_name)
    (run,) = [r for r in runs if r.parent_task_run_id is None]
    (subflow,) = [r for r in runs if r.parent_task_run_id is not None]
    assert subflow.name.startswith(task_name)
    assert run.state is not None and run.state.type.value in ("CRASHED", "CANCELLED"), run.state
    assert subflow.state is not None and subflow.state.is_final(), subflow.state
    assert subflow.state.type.value in ("FAILED", "CRASHED", "CANCELLED"), subflow.state


def test_a_host_in_the_first_worker_thread_still_finishes_after_an_interrupt(sigint_raises: None) -> None:
    """Regression: on Python 3.11 a Thread.join() interrupted by KeyboardInterrupt marks that
    thread stopped although it runs on (CPython issue 90882). The engine used to join again and
    return at once, ending the root task while the first worker thread's host was in flight.
    Here that host finishes last; the run must wait for it (within the cancel grace)."""
    import genja_prefect as genja_lib

    slow_running = threading.Event()
    finished: list[str] = []

    @task(name="first_thread_slow")
    class FirstThreadSlow:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            if host.id == "a":  # taken by the first worker thread: hosts go out in order
                slow_running.set()
                time.sleep(1.5)
            elif host.id == "b":
                assert slow_running.wait(30)
                time.sleep(0.2)  # the main thread is waiting for the workers by now
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
                time.sleep(0.2)  # c is not taken before the engine has seen the interrupt
            finished.append(host.id)
            return TaskSuccessResult()

    genja = genja_lib.Genja.from_hosts(
        {"a": {}, "b": {}, "c": {}}, settings={"prefect": {"enabled": False}, "runner": {"worker_count": 2}}
    )
    seen: list[str] = []
    token = observe_progress(lambda task_name, host_id, result: seen.append(f"{host_id}:{result.status}"))
    try:
        with pytest.raises(KeyboardInterrupt):
            genja.run_task(FirstThreadSlow)
    finally:
        stop_observing_progress(token)
    # when run_task gave the interrupt back, the host in flight in the first thread had finished
    assert "a" in finished and "a:passed" in seen, (finished, seen)
    assert "c:skipped" in seen  # not started before the interrupt: skipped as cancelled

"""Device locks: host task runs honour Prefect's tag concurrency limits and, with
``prefect.device_lock``, a one-slot limit per device -- across runs, through Prefect's API."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.task import TaskSuccessResult, task
from tests.flows import prefect_rest

pytestmark = pytest.mark.usefixtures("prefect_api")


class InFlight:
    """Peak number of hosts in flight, overall and per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)

    def enter(self, key: str) -> None:
        with self.lock:
            self.now[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])

    def leave(self, key: str) -> None:
        with self.lock:
            self.now[key] -= 1


def _limit(name: str, limit: int) -> None:
    prefect_rest.post("/v2/concurrency_limits/", {"name": name, "limit": limit})


def _run_concurrently(*runs: Any) -> list[Any]:
    out: list[Any] = [None] * len(runs)

    def go(i: int, fn: Any) -> None:
        out[i] = fn()

    threads = [threading.Thread(target=go, args=(i, fn)) for i, fn in enumerate(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return out


def test_a_tag_limit_of_one_allows_one_host_in_flight_across_two_runs() -> None:
    flight = InFlight()

    @task(name="push_change")
    class Push:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            key = "iosxr" if host.platform == "iosxr" else "other"
            flight.enter(key)
            time.sleep(0.15)
            flight.leave(key)
            return TaskSuccessResult(summary="pushed")

    _limit("tag:platform:iosxr", 1)
    hosts = {f"xr{i}": {"platform": "iosxr"} for i in range(4)} | {f"ios{i}": {"platform": "ios"} for i in range(4)}

    def run(name: str) -> Any:
        genja = genja_lib.Genja.from_hosts(
            hosts, settings={"prefect": {"flow_name": name}, "runner": {"worker_count": 8}}
        )
        return genja.run_task(Push)

    first, second = _run_concurrently(lambda: run("genja-locks-a"), lambda: run("genja-locks-b"))
    assert len(first.passed_hosts) == 8 and len(second.passed_hosts) == 8
    assert flight.peak["iosxr"] == 1, flight.peak  # 8 iosxr executions, one at a time
    assert flight.peak["other"] > 1  # hosts no limit matches run in parallel

    # a host that waited shows it: AwaitingConcurrencySlot before Running in its state history
    runs = prefect_rest.post(
        "/task_runs/filter",
        {"task_runs": {"tags": {"all_": ["platform:iosxr"]}}, "limit": 50, "offset": 0},
    )
    waited = 0
    for run_ in runs:
        history = _states(run_["id"])
        assert history[-1] == "Completed"
        waited += "AwaitingConcurrencySlot" in history
    assert waited >= 1


def _states(task_run_id: str) -> list[str]:
    import httpx

    from prefect.settings import PREFECT_API_URL

    deadline = time.monotonic() + 60
    while True:
        response = httpx.get(f"{PREFECT_API_URL.value()}/task_run_states/", params={"task_run_id": task_run_id}, timeout=30)
        response.raise_for_status()
        names = [s["name"] for s in sorted(response.json(), key=lambda s: s["timestamp"])]
        if (names and names[-1] == "Completed") or time.monotonic() > deadline:
            return names
        time.sleep(0.25)


def test_device_lock_keeps_two_runs_off_the_same_device() -> None:
    flight = InFlight()

    @task(name="reconfigure")
    class Reconfigure:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            flight.enter(host.id)
            time.sleep(0.1)
            flight.leave(host.id)
            return TaskSuccessResult(summary="done")

    hosts = {f"edge{i}": {"platform": "eos"} for i in range(3)}

    def run(name: str) -> Any:
        genja = genja_lib.Genja.from_hosts(
            hosts, settings={"prefect": {"flow_name": name, "device_lock": True}, "runner": {"worker_count": 3}}
        )
        return genja.run_task(Reconfigure)

    results = _run_concurrently(lambda: run("genja-device-lock-a"), lambda: run("genja-device-lock-b"))
    assert all(len(r.passed_hosts) == 3 for r in results)
    assert dict(flight.peak) == {"edge0": 1, "edge1": 1, "edge2": 1}
    names = {item["name"] for item in prefect_rest.post("/v2/concurrency_limits/filter", {"limit": 200, "offset": 0})}
    assert {"genja-device:edge0", "genja-device:edge1", "genja-device:edge2"} <= names

"""Rollouts: canary first, then batches; halted past max_fail_percent, the rest skipped."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.engine.rollout import waves
from genja_prefect.errors import SettingsError
from genja_prefect.settings import RolloutConfig
from genja_prefect.task import TaskFailureResult, TaskSuccessResult, task


def _genja(n: int, rollout: dict[str, Any] | None, prefect: bool = False, **prefect_settings: Any) -> genja_lib.Genja:
    settings: dict[str, Any] = {"runner": {"worker_count": 4, "rollout": rollout}, "prefect": {"enabled": prefect, **prefect_settings}}
    return genja_lib.Genja.from_hosts({f"h{i}": {} for i in range(n)}, settings=settings)


def _task(failing: set[str], log: list[tuple[str, str]], options: dict[str, Any] | None = None) -> Any:
    lock = threading.Lock()

    @task(name="change", options=options)
    class Change:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            with lock:
                log.append(("start", host.id))
            time.sleep(0.01)
            with lock:
                log.append(("end", host.id))
            if host.id in failing:
                return TaskFailureResult(message="commit failed", kind="command")
            return TaskSuccessResult(summary="applied", changed=True)

    return Change


def test_waves() -> None:
    assert waves([f"h{i}" for i in range(10)], RolloutConfig(canary=1, batch_percent=25)) == [
        ["h0"], ["h1", "h2", "h3"], ["h4", "h5", "h6"], ["h7", "h8", "h9"]
    ]
    assert waves(["a", "b"], RolloutConfig(canary=0, batch_percent=100)) == [["a", "b"]]
    assert waves(["a"], RolloutConfig(canary=3)) == [["a"]]


def test_canary_runs_alone_first_then_batches_in_order() -> None:
    log: list[tuple[str, str]] = []
    results = _genja(10, {"canary": 1, "batch_percent": 25, "max_fail_percent": 10}).run_task(_task(set(), log))
    assert len(results.passed_hosts) == 10
    # the canary ended before any other host started; each wave ended before the next began
    assert log[:2] == [("start", "h0"), ("end", "h0")]
    position = {(kind, h): i for i, (kind, h) in enumerate(log)}
    for earlier, later in ((["h1", "h2", "h3"], ["h4", "h5", "h6"]), (["h4", "h5", "h6"], ["h7", "h8", "h9"])):
        assert max(position[("end", h)] for h in earlier) < min(position[("start", h)] for h in later)


def test_failures_past_the_threshold_halt_the_rollout() -> None:
    log: list[tuple[str, str]] = []
    results = _genja(10, {"canary": 1, "batch_percent": 25, "max_fail_percent": 10}).run_task(_task({"h2"}, log))
    assert results.failed_hosts == ["h2"]
    assert sorted(results.skipped_hosts) == ["h4", "h5", "h6", "h7", "h8", "h9"]
    skipped = results["h9"]
    assert skipped.reason == "rollout_halted" and "halted after wave 2 of 4" in skipped.message
    assert {h for kind, h in log if kind == "start"} == {"h0", "h1", "h2", "h3"}  # nothing ran after the halt


def test_a_failed_canary_stops_everything_and_a_task_can_carry_its_own_rollout() -> None:
    log: list[tuple[str, str]] = []
    change = _task({"h0"}, log, {"rollout": {"canary": 1, "batch_percent": 50, "max_fail_percent": 50}})
    results = _genja(4, None).run_task(change)
    assert results.failed_hosts == ["h0"] and sorted(results.skipped_hosts) == ["h1", "h2", "h3"]
    assert [h for kind, h in log if kind == "start"] == ["h0"]


def test_a_bad_rollout_is_one_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="runner.rollout.batch_percent"):
        _genja(2, {"batch_percent": 0})


def test_a_halted_rollout_is_red_in_prefect_with_skipped_task_runs(prefect_api: str) -> None:
    from tests.flows import prefect_rest

    log: list[tuple[str, str]] = []
    genja = _genja(4, {"canary": 1, "batch_percent": 50, "max_fail_percent": 0}, prefect=True, flow_name="genja-rollout")
    results = genja.run_task(_task({"h0"}, log))
    assert sorted(results.skipped_hosts) == ["h1", "h2", "h3"]
    runs = prefect_rest.post("/flow_runs/filter", {"flows": {"name": {"any_": ["genja-rollout"]}}, "limit": 10, "offset": 0})
    assert all(r["state"]["type"] == "FAILED" for r in runs) and len(runs) == 2
    sub = next(r for r in runs if r["parent_task_run_id"])
    deadline = time.monotonic() + 60
    while True:
        tasks = prefect_rest.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [sub["id"]]}}, "limit": 10, "offset": 0})
        names = {t["name"]: t["state"]["name"] for t in tasks if t["state"]["type"] in ("COMPLETED", "FAILED")}
        if len(names) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert names == {"change@h0": "Failed", "change@h1": "Skipped", "change@h2": "Skipped", "change@h3": "Skipped"}

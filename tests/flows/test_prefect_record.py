"""On a server of the user's (``prefect server start``, with the fast-ingest settings README
recommends), a run's record is complete when the Python call returns: every host's task run,
the subflow and the flow run are final, read right away, with no waiting in the test."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV
from genja_prefect.task import TaskFailureResult, TaskSuccessResult, task
from tests.flows.prefect_server import prefect_server

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@task(name="quick_check")
class QuickCheck:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        time.sleep(0.01)
        if host.id.endswith("7"):
            return TaskFailureResult(message="no answer", kind="timeout")
        return TaskSuccessResult(summary="fine")


@pytest.mark.prefect_server
@pytest.mark.timeout(600)
def test_nothing_is_running_or_pending_once_the_call_returned(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_server(tmp_path / "home", extra_env=dict(FAST_INGEST_SERVER_ENV)) as server:
        genja = genja_lib.Genja.from_hosts(
            {f"h{i:02d}": {} for i in range(60)},
            settings={"prefect": {"flow_name": "genja-record"}, "runner": {"worker_count": 8}},
        )
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            results = genja.run_tasks([QuickCheck, QuickCheck])
        assert len(results[0].failed_hosts) == 6
        # read at once: the call waited for the server to write everything
        runs: list[dict[str, Any]] = server.post(
            "/flow_runs/filter", {"flows": {"name": {"any_": ["genja-record"]}}, "limit": 10, "offset": 0}
        )
        assert len(runs) == 3 and all(r["state"]["type"] in FINAL for r in runs), [(r["name"], r["state"]["type"]) for r in runs]
        subflows = [r for r in runs if r["parent_task_run_id"]]
        for sub in subflows:
            tasks = server.post(
                "/task_runs/filter", {"flow_runs": {"id": {"any_": [sub["id"]]}}, "limit": 200, "offset": 0}
            )
            states = [t["state"]["type"] for t in tasks]
            assert len(tasks) == 60 and set(states) <= FINAL, sorted(set(states))
            assert states.count("FAILED") == 6
            # The subflow goes Running before its first host starts: the server stamps that
            # state when it gets it, and the run posts it at once when the server has taken
            # what was queued before it within record.post_now's 2 s. On a loaded machine
            # (seen: four test processes on two cores) the server can take longer, and host
            # work does not wait for it: then the first hosts started up to a few seconds
            # before the server stamped the subflow Running.
            first_host = min(datetime.fromisoformat(t["start_time"]) for t in tasks)
            lag = (datetime.fromisoformat(sub["start_time"]) - first_host).total_seconds()
            assert lag <= 10, f"the subflow went Running {lag:.1f} s after its first host started"

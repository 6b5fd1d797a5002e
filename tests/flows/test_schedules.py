"""Schedules fire: a deployment with an interval schedule gets runs from the server's scheduler,
and a process worker runs one of them to Completed, on a real ``prefect server start``.

The deployment tests elsewhere trigger runs by hand (``create_flow_run``) with the scheduler
switched off. That let a broken scheduler through: with SQLAlchemy 2.1 the scheduler service
of prefect 3.8.8 fails on every loop ("Can't evaluate bulk DML statement") and no scheduled
run is ever created, while every manual run works. Here nothing is triggered by hand: the
server's scheduler services are on (their loops shortened), the deployment has a 15 s interval
schedule, and the test waits, through the API, for runs created by the scheduler and for one of
them to complete. Every process started (server, worker, flow runs, lab) is stopped by the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.prefect_server import prefect_server, stop_process, stop_server_flow_runs, wait_for

REPO = Path(__file__).resolve().parents[2]
INTERVAL_S = 15

# Server settings (prefect 3.8.8 names): the scheduler on (prefect_server() turns it off for the
# other tests), both of its loops short, and only a few runs created ahead.
SCHEDULER_ON = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3",
}


def _prefect_yaml(path: Path, settings: str) -> Path:
    """A prefect.yaml with one deployment of the ready-made collect_facts flow, every 15 s."""
    path.write_text(yaml.safe_dump({
        "name": "genja-prefect-schedule-test",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        "pull": [{"genja_prefect_flows.steps.set_working_directory": {"directory": str(REPO)}}],
        "deployments": [{
            "name": "facts-every-15s",
            "entrypoint": "flows/genja_prefect_flows/facts.py:collect_facts",
            "parameters": {"settings": settings},
            "schedules": [{"interval": INTERVAL_S, "active": True}],
            "concurrency_limit": 1,
            "work_pool": {"name": "genja-pool", "work_queue_name": "default", "job_variables": {}},
        }],
    }))
    return path


@pytest.mark.prefect_server
@pytest.mark.timeout(600)  # ~1 min on an idle 2-core machine; generous for a loaded one
def test_scheduled_runs_are_created_and_one_completes(sim_lab: Any, tmp_path: Path, cleanups: ExitStack) -> None:
    lab = sim_lab(ios=1)
    settings = str(Path(lab.directory) / "settings.yaml")
    server = cleanups.enter_context(prefect_server(tmp_path / "prefect-home", extra_env=SCHEDULER_ON))
    cleanups.callback(stop_server_flow_runs, server.api_url)  # after the worker stops, before the server
    server.create_process_pool("genja-pool")
    server.deploy(_prefect_yaml(tmp_path / "prefect.yaml", settings), "facts-every-15s", cwd=REPO)
    deployment = server.get("/deployments/name/collect-facts/facts-every-15s")
    assert deployment["schedules"][0]["schedule"]["interval"] == INTERVAL_S
    worker = server.spawn(["worker", "start", "--pool", "genja-pool", "--name", "w-sched"],
                          tmp_path / "worker.log", cwd=tmp_path, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2"})
    cleanups.callback(stop_process, worker)

    def runs() -> list[dict[str, Any]]:
        return list(server.post("/flow_runs/filter", {
            "flow_runs": {"deployment_id": {"any_": [deployment["id"]]}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": 50, "offset": 0}))

    def scheduler_errors() -> str:
        log = server.log.read_text(errors="replace")
        errors = [line for line in log.splitlines() if re.search(r"Error|Traceback", line)]
        return "\n".join(errors[-20:]) or "(no error in the server log)"

    def diagnosis() -> str:
        states = [(r["name"], r["state"]["type"], r["auto_scheduled"]) for r in runs()]
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        return f"runs: {states}\nserver errors:\n{scheduler_errors()}\nworker log:\n{worker_log}"

    # The scheduler (not this test) creates the runs: auto-scheduled, created by the schedule.
    created = wait_for(runs, 120, lambda: f"no run created by the scheduler\n{diagnosis()}")
    schedule_id = deployment["schedules"][0]["id"]
    for run in created:
        assert run["auto_scheduled"] is True, run
        assert run["created_by"] and run["created_by"]["type"] == "SCHEDULE", run["created_by"]
        assert run["created_by"]["id"] == schedule_id
    assert len({run["expected_start_time"] for run in created}) == len(created)

    # ... and the worker runs one of them to Completed, without anyone triggering it.
    completed = wait_for(lambda: [r for r in runs() if r["state"]["type"] == "COMPLETED"], 300,
                         lambda: f"no scheduled run completed\n{diagnosis()}", interval=1)
    run = completed[0]
    assert run["auto_scheduled"] is True and run["created_by"]["type"] == "SCHEDULE"
    assert run["labels"]["prefect.worker.name"] == "w-sched"
    failed = [r for r in runs() if r["state"]["type"] in {"FAILED", "CRASHED"}]
    assert not failed, json.dumps([r["state"] for r in failed], indent=1)
    tree = server.flow_run_result(run["id"])
    assert tree["task_name"] == "collect_facts"
    assert tree["hosts"]["sim-ios1"]["status"] == "passed", tree["hosts"]["sim-ios1"]
    # The scheduler services ran their loops without an error.
    assert "Can't evaluate bulk DML" not in server.log.read_text(errors="replace"), scheduler_errors()

    # `genja-prefect doctor` as a user runs it against this server: every check passes.
    exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
    doctor = subprocess.run([exe, "doctor"], env=server.env, capture_output=True, text=True, timeout=120, check=False)
    assert doctor.returncode == 0, f"{doctor.stdout}\n{doctor.stderr}"
    lines = doctor.stdout.splitlines()
    assert lines[0] == f"OK    api       {server.api_url} answers, Prefect server 3.8.8"
    assert any(re.match(r"OK    schedule  collect-facts/facts-every-15s: \d+ upcoming scheduled run", line)
               for line in lines), doctor.stdout
    assert "OK    pool      genja-pool: 1 live worker(s): w-sched" in lines
    assert any(line.startswith("OK    versions  prefect 3.8.8, sqlalchemy 2.0.") for line in lines), doctor.stdout
    assert lines[-1] == "all good"

"""A deployment run that cannot start says why in its flow run's state message, not only in the
worker's output: a working directory missing on the worker's machine, a settings file that is
not there, a connection plugin whose extra is not installed where the worker runs.

One real ``prefect server start`` on 127.0.0.1, the ``genja-pool`` process pool, one process
worker, three runs; each must end ``Failed`` with a one-line reason readable through the API.
The missing extra is made real for the run alone: its ``PYTHONPATH`` puts first a directory
whose ``scrapli`` and ``lxml`` packages fail to import, as they do when
``genja-prefect[devices]`` is not installed. Every process started is stopped by the test.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.prefect_server import prefect_server, stop_process, stop_server_flow_runs

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"


def _settings(directory: Path) -> str:
    """A valid settings file (one host, never contacted: the runs fail before any host)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yaml").write_text("r1:\n  hostname: 127.0.0.1\n  platform: ios\n")
    (directory / "settings.yaml").write_text(yaml.safe_dump({"inventory": {
        "plugin": "FileInventoryPlugin", "options": {"hosts_file": str(directory / "hosts.yaml")}}}))
    return str(directory / "settings.yaml")


def _without_extra(directory: Path) -> str:
    """A directory for PYTHONPATH in which scrapli and lxml fail to import, as when missing."""
    for name in ("scrapli", "lxml"):
        (directory / name).mkdir(parents=True)
        (directory / name / "__init__.py").write_text(f'raise ImportError("No module named {name!r}")\n')
    return str(directory)


def _gone_dir_yaml(path: Path, gone: Path) -> Path:
    """The repository's collect-facts deployment, its pull step pointing at ``gone``."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    config["pull"] = [{"genja_prefect_flows.steps.set_working_directory": {"directory": str(gone)}}]
    facts = next(d for d in config["deployments"] if d["name"] == "collect-facts-hourly")
    config["deployments"] = [{**facts, "name": "facts-gone-dir", "schedules": []}]
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.prefect_server
@pytest.mark.timeout(600)  # ~1 min on an idle 2-core machine; generous for a loaded one
def test_runs_that_cannot_start_say_why_in_their_state(tmp_path: Path, cleanups: ExitStack) -> None:
    server = cleanups.enter_context(prefect_server(tmp_path / "prefect-home"))
    cleanups.callback(stop_server_flow_runs, server.api_url)
    server.create_process_pool("genja-pool")
    gone = tmp_path / "checkout-not-on-this-machine"
    server.deploy(_gone_dir_yaml(tmp_path / "prefect.yaml", gone), "facts-gone-dir", cwd=REPO)
    server.deploy(PREFECT_YAML, "collect-facts-hourly", cwd=REPO)
    gone_dir = server.get("/deployments/name/collect-facts/facts-gone-dir")
    facts = server.get("/deployments/name/collect-facts/collect-facts-hourly")
    settings = _settings(tmp_path / "inventory")
    missing_settings = str(tmp_path / "nowhere" / "settings.yaml")

    def run(deployment: dict[str, Any], parameters: dict[str, Any], **job_variables: Any) -> str:
        body: dict[str, Any] = {"parameters": parameters, "tags": ["test"]}
        if job_variables:
            body["job_variables"] = job_variables
        return str(server.post(f"/deployments/{deployment['id']}/create_flow_run", body)["id"])

    runs = {
        "working directory": run(gone_dir, {"settings": settings}),
        "settings file": run(facts, {"settings": missing_settings}),
        "extra": run(facts, {"settings": settings},
                     env={"PYTHONPATH": _without_extra(tmp_path / "without-devices-extra")}),
    }
    worker = server.spawn(["worker", "start", "--pool", "genja-pool", "--name", "w-fail"],
                          tmp_path / "worker.log", cwd=tmp_path, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2"})
    cleanups.callback(stop_process, worker)

    final = {what: server.wait_for_run(run_id, timeout=240, workers=[worker]) for what, run_id in runs.items()}
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-4000:]
    for what, flow_run in final.items():
        state = flow_run["state"]
        assert state["type"] == "FAILED", f"{what}: {json.dumps(state, indent=1)}\n{worker_log}"
        assert "\n" not in state["message"].strip(), f"{what}: {state['message']}"
    messages = {what: flow_run["state"]["message"] for what, flow_run in final.items()}
    assert f"working directory {gone} does not exist on worker machine" in messages["working directory"]
    assert "run `prefect deploy` from a checkout that exists where the worker runs" in messages["working directory"]
    assert f"settings: no settings file at {missing_settings!r}" in messages["settings file"]
    assert "connection plugin 'scrapli' is not available" in messages["extra"]
    assert "No module named 'scrapli'" in messages["extra"]
    assert "pip install 'genja-prefect[devices]'" in messages["extra"]

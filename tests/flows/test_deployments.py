"""deployments/prefect.yaml on a real Prefect server: deploy, run through a process worker, read back.

Starts ``prefect server start`` on 127.0.0.1 (SQLite in a temporary PREFECT_HOME, and once more
on a PostgreSQL cluster of its own: what a production server runs on), creates the
``genja-pool`` process work pool, deploys ``collect-facts-hourly`` with ``prefect deploy`` from
the repository root, triggers a run with parameters pointing at the lab, runs a
``prefect worker start --run-once`` and checks the run's final state, its result and its
artifact through the API. Server and worker are stopped whatever happens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.flows import prefect_rest
from tests.flows.prefect_server import DATABASES, Database, prefect_server, stop_flow_run_processes

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"


def test_prefect_yaml_declares_the_documented_deployments() -> None:
    config = yaml.safe_load(PREFECT_YAML.read_text())
    by_name = {d["name"]: d for d in config["deployments"]}
    assert {"backup-configs-nightly", "collect-facts-hourly"} <= set(by_name)
    assert by_name["backup-configs-nightly"]["schedules"][0]["cron"] == "0 2 * * *"
    assert by_name["collect-facts-hourly"]["schedules"][0]["cron"] == "0 * * * *"
    for deployment in config["deployments"]:
        assert deployment["work_pool"]["name"] == "genja-pool"
        assert "genja" in deployment["tags"]
        path, _, func = deployment["entrypoint"].partition(":")
        # The entrypoint loads as Prefect's workers load it (the flows are made on first use).
        from prefect.flows import Flow, load_flow_from_entrypoint

        assert (REPO / path).is_file()
        assert isinstance(load_flow_from_entrypoint(f"{REPO / path}:{func}"), Flow), deployment["entrypoint"]
        assert not {"password", "username", "token"} & set(deployment["parameters"])
    assert (REPO / by_name["deploy-config"]["parameters"]["template"]).is_file()


@pytest.mark.prefect_server
@pytest.mark.timeout(600)  # ~1 min on an idle 2-core machine; generous for a loaded one
@pytest.mark.parametrize("database", DATABASES)
def test_deploy_run_on_a_process_worker(lab_settings: str, tmp_path: Path, database: Database) -> None:
    with prefect_server(tmp_path / "prefect-home", database=database) as server:
        server.create_process_pool("genja-pool")
        # `prefect deploy` is run from the repository root, as the docs say.
        server.deploy(PREFECT_YAML, "collect-facts-hourly", cwd=REPO)
        deployment = server.get("/deployments/name/collect-facts/collect-facts-hourly")
        assert deployment["work_pool_name"] == "genja-pool"
        assert {"genja", "facts", "hourly"} <= set(deployment["tags"])
        assert deployment["schedules"][0]["schedule"]["cron"] == "0 * * * *"
        assert deployment["parameters"] == {"settings": ".genja-lab/settings.yaml"}
        assert deployment["pull_steps"][0]["genja_prefect_flows.steps.set_working_directory"]["directory"] == str(REPO)

        run = server.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"settings": lab_settings, "filter": {"platform": "eos"}}, "tags": ["test"]},
        )
        worker = server.spawn(["worker", "start", "--pool", "genja-pool", "--run-once"],
                              tmp_path / "worker.log", cwd=tmp_path)
        try:
            final = server.wait_for_run(run["id"], timeout=300, workers=[worker])
        finally:
            stop_flow_run_processes(run["id"])  # only left when the run did not finish
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")
        assert final["state"]["type"] == "COMPLETED", f"{json.dumps(final['state'], indent=1)}\n{worker_log[-4000:]}"

        tree = server.flow_run_result(run["id"])
        assert tree["task_name"] == "collect_facts"
        assert set(tree["hosts"]) == {"eos1", "sim-eos1"}
        assert tree["hosts"]["sim-eos1"].get("result", {}).get("serial") == "SN-sim-eos1", tree["hosts"]["sim-eos1"]
        facts = prefect_rest.artifacts("genja-facts", run["id"], server.api_url)
        assert facts and "| sim-eos1 | passed |" in facts[0]["data"]
        # the engine's per-host rows, from the root task's subflow
        assert prefect_rest.artifacts("genja-collect-facts", api_url=server.api_url)

        # This server runs without its scheduler (prefect_server() turns it off): the hourly
        # schedule never fires, and `genja-prefect doctor` says so (exit 1).
        exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
        doctor = subprocess.run([exe, "doctor", "--schedule-grace", "0"], env=server.env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert doctor.returncode == 1, f"{doctor.stdout}\n{doctor.stderr}"
        assert ("FAIL  schedule  collect-facts/collect-facts-hourly: active schedule but no upcoming scheduled run"
                in doctor.stdout), doctor.stdout

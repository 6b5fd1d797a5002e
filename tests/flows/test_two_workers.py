"""Two process workers on one work pool run two deployments at once, without interference.

One ``prefect server start`` on 127.0.0.1, the ``genja-pool`` process pool, the deployments
``collect-facts-hourly`` and ``backup-configs-nightly`` from deployments/prefect.yaml. One run of
each is triggered against its own lab devices (collect facts: the two simulated IOS devices;
backup: the two simulated EOS devices, into a directory of its own), and two workers, ``w1`` and
``w2``, each with ``--limit 1``, are started on the pool.

"At once" is made deterministic, not hoped for: the inventory points every device at a loopback
relay (tests/flows/relay.py) that holds each new SSH connection until the test releases it. The
test waits until both runs hold a device connection, so both runs are RUNNING inside their host
tasks at the same moment, checks that through the API and /proc, and only then lets the
connections through. A worker with ``--limit 1`` cannot take the second run while its first one
is held, so the runs must land on different workers. Everything started (server, workers,
flow-run processes, relays, lab) is stopped, also when the test fails; every hold is bounded by
a timeout.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.lab.lab_inventory import LabHost
from tests.flows.prefect_server import (
    PrefectServer,
    flow_run_processes,
    parent_pid,
    prefect_server,
    stop_flow_run_processes,
    wait_for,
)
from tests.flows.relay import HOLD_TIMEOUT_S, Gate, GatedRelay, gated_inventory

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
TIMEOUT_OPEN_S = HOLD_TIMEOUT_S + 60  # scrapli's open timeout for the held devices: longer than the hold


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)


def _run_artifacts(server: PrefectServer, run_id: str) -> list[dict[str, Any]]:
    """Artifacts of a flow run and of its subflows (the engine's per-root-task tables)."""
    subflows = server.post("/flow_runs/filter", {
        "flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}, "limit": 50, "offset": 0})
    ids = [run_id, *(sub["id"] for sub in subflows)]
    return list(server.post("/artifacts/filter", {
        "artifacts": {"flow_run_id": {"any_": ids}}, "sort": "CREATED_DESC", "limit": 50, "offset": 0}))


def _table_rows(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of genja-prefect's table artifacts, host cells as plain ids (they link to task runs)."""
    from types import SimpleNamespace

    from genja_prefect.prefect.artifacts import table_rows_of

    rows: list[dict[str, Any]] = []
    for artifact in artifacts:
        rows += table_rows_of(SimpleNamespace(**artifact)) or []
    return rows


@pytest.mark.prefect_server
@pytest.mark.timeout(1200)  # ~1 min on an idle 2-core machine; the bounded waits below add up to less
def test_two_workers_run_two_deployments_at_once(sim_lab: Any, tmp_path: Path, cleanups: ExitStack) -> None:
    lab = sim_lab(ios=2, eos=2)
    own_hosts = {"facts": {"sim-ios1", "sim-ios2"}, "backup": {"sim-eos1", "sim-eos2"}}
    group_of = {host: group for group, hosts in own_hosts.items() for host in hosts}
    gate = Gate(own_hosts)
    relayed = []
    for host in lab.by_kind("sim"):
        relay = GatedRelay(host.port, group_of[host.name], gate)
        cleanups.callback(relay.stop)
        relayed.append(LabHost(host.name, host.platform, "sim", relay.port))
    cleanups.callback(gate.close)  # before the relays stop (last in, first out): refuse held connections
    settings = gated_inventory(tmp_path / "inventory", relayed, lab.username, lab.password, TIMEOUT_OPEN_S)
    backup_dir = tmp_path / "backups"

    server = cleanups.enter_context(prefect_server(tmp_path / "prefect-home"))
    server.create_process_pool("genja-pool")
    server.deploy(PREFECT_YAML, "collect-facts-hourly", "backup-configs-nightly", cwd=REPO)
    deployments = {
        "facts": server.get("/deployments/name/collect-facts/collect-facts-hourly"),
        "backup": server.get("/deployments/name/backup-configs/backup-configs-nightly"),
    }
    parameters = {
        "facts": {"settings": settings, "filter": {"platform": "ios"}},
        "backup": {"settings": settings, "filter": {"platform": "eos"}, "backup_dir": str(backup_dir)},
    }
    runs = {job: server.post(f"/deployments/{deployments[job]['id']}/create_flow_run",
                             {"parameters": parameters[job], "tags": ["test"]})["id"]
            for job in deployments}
    for run_id in runs.values():
        cleanups.callback(stop_flow_run_processes, run_id)  # only left when a run did not finish

    workers: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("w1", "w2"):
        workers[name] = server.spawn(
            ["worker", "start", "--pool", "genja-pool", "--name", name, "--limit", "1"],
            tmp_path / f"{name}.log", cwd=tmp_path, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2"},
        )

    def logs() -> str:
        return "\n".join(f"--- {name}.log\n{(tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}"
                         for name in workers)

    # Both runs are inside a host task, each holding a device connection at the relay.
    # Bounded below the relay's hold, so the first run's held connection is still held then.
    assert gate.wait_for_every_group(HOLD_TIMEOUT_S - 60), f"held connections: {gate.arrived}\n{logs()}"
    held = {job: server.get(f"/flow_runs/{run_id}") for job, run_id in runs.items()}
    assert {job: run["state"]["type"] for job, run in held.items()} == {"facts": "RUNNING", "backup": "RUNNING"}
    # Which worker runs which: the label the worker gives the run, the run's process (its pid
    # recorded by the worker as infrastructure_pid) and that process's parent, a worker.
    ran_on: dict[str, str] = {}
    for job, run_id in runs.items():
        pid = int(wait_for(lambda run_id=run_id: server.get(f"/flow_runs/{run_id}")["infrastructure_pid"],
                            120, f"infrastructure_pid of the {job} run"))
        assert pid in flow_run_processes(run_id)
        worker_name = held[job]["labels"]["prefect.worker.name"]
        assert workers[worker_name].pid == parent_pid(pid), (job, worker_name, pid)
        assert _environ(pid)["PREFECT__WORKER_NAME"] == worker_name
        ran_on[job] = worker_name
    assert sorted(ran_on.values()) == ["w1", "w2"], ran_on
    gate.release()

    final = {job: server.wait_for_run(run_id, timeout=300) for job, run_id in runs.items()}
    for job, run in final.items():
        assert run["state"]["type"] == "COMPLETED", f"{job}: {json.dumps(run['state'], indent=1)}\n{logs()}"
        assert run["labels"]["prefect.worker.name"] == ran_on[job]
    # Their executions overlap (the start of each is before the end of the other).
    latest_start = max(run["start_time"] for run in final.values())
    earliest_end = min(run["end_time"] for run in final.values())
    assert latest_start < earliest_end, {job: (r["start_time"], r["end_time"]) for job, r in final.items()}
    pool_workers = server.post("/work_pools/genja-pool/workers/filter", {"limit": 10, "offset": 0})
    assert {"w1", "w2"} <= {w["name"] for w in pool_workers}

    # No cross-talk: each run has exactly its own hosts, each with one result, from its own device.
    facts, backup = (server.flow_run_result(runs[job]) for job in ("facts", "backup"))
    assert facts["task_name"] == "collect_facts" and set(facts["hosts"]) == own_hosts["facts"]
    for host, entry in facts["hosts"].items():
        assert entry["status"] == "passed", entry
        assert entry["result"]["hostname"] == host, entry  # as the device itself says
    assert backup["task_name"] == "backup_config" and set(backup["hosts"]) == own_hosts["backup"]
    for host, entry in backup["hosts"].items():
        assert entry["status"] == "passed", entry
        assert f"hostname {host}\n" in (backup_dir / f"{host}.cfg").read_text()
    assert {p.name for p in backup_dir.glob("*.cfg")} == {f"{h}.cfg" for h in own_hosts["backup"]}
    for job, run_id in runs.items():
        artifacts = _run_artifacts(server, run_id)
        rows = sorted(row["host"] for row in _table_rows(artifacts))
        assert rows == sorted(own_hosts[job]), (job, rows)  # one row per own host, no other
        others = set(group_of) - own_hosts[job]
        assert not [(a["key"], h) for a in artifacts for h in others if h in str(a["data"])], job

"""A deployment run whose Prefect server dies while its hosts work (issue 20).

One ``prefect server start`` on 127.0.0.1 (SQLite in its own PREFECT_HOME), the ``genja-pool``
process pool, the deployment ``backup-configs-nightly`` from deployments/prefect.yaml and one
process worker. The run backs up three simulated IOS devices, each behind a loopback relay
(tests/flows/relay.py) that holds new SSH connections. Once every host is in flight (its
connection held at its relay, its task run Running in the API) the server is killed with
SIGKILL (its whole process group: a crash, an OOM kill), then the devices are let through.

The flow-run process (the worker's child, ``python -m prefect.engine``) must then:

- write every host's backup file;
- end by itself, within a generous bound, with ONE line saying that Prefect became
  unreachable and what was spooled where, and no Python traceback in its output;
- leave the run's record in the spool (``$PREFECT_HOME/genja-spool``).

Then the server is started again on the same port and database, ``genja-prefect prefect sync``
delivers the spool, and the API shows every host's task run, the subflow and the flow run in
a final state (the flow run Completed, as its hosts are). Everything started is stopped by the
test, and counted: no process with this server's PREFECT_HOME in its environment is left.

The flow-run process's own output is told apart from the worker's: the run's ``command`` job
variable is Prefect's default ``python -m prefect.engine`` with its stdout and stderr sent to a
file (the worker streams both into its own output otherwise, mixed with its own lines).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.lab.lab_inventory import LabHost
from tests.flows import prefect_rest
from tests.flows.prefect_server import (
    TERMINAL,
    PrefectServer,
    _wait_healthy,
    flow_run_processes,
    kill_server,
    processes_where,
    prefect_server,
    process_running,
    stop_flow_run_processes,
    stop_process,
    wait_for,
)
from tests.flows.relay import HOLD_TIMEOUT_S, Gate, GatedRelay, gated_inventory

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
CLI = str(Path(sys.executable).parent / "genja-prefect")
HOSTS = ["sim-ios1", "sim-ios2", "sim-ios3"]
#: The flow-run process must be done within this after the devices answer (record_timeout_s is
#: 15 s; Prefect's own client retries come on top). Generous for a loaded 2-core machine.
RUN_END_TIMEOUT_S = 240.0


def _processes_with(marker: bytes) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (``NAME=value``)."""
    return [pid for pid in processes_where(lambda environ: marker in environ) if process_running(pid)]


def _restart(server: PrefectServer) -> subprocess.Popen[bytes]:
    """``prefect server start`` again on the same port and database; once it answers."""
    proc = server.spawn(["server", "start", "--host", "127.0.0.1", "--port", str(server.port)], server.log)
    _wait_healthy(server, proc, 240.0)
    return proc


def _run_tree(server: PrefectServer, run_id: str) -> dict[str, Any]:
    subflows = server.post("/flow_runs/filter", {
        "flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}, "limit": 50, "offset": 0})
    task_runs = server.post("/task_runs/filter", {
        "flow_runs": {"id": {"any_": [run_id, *(sub["id"] for sub in subflows)]}}, "limit": 200, "offset": 0})
    return {"run": server.get(f"/flow_runs/{run_id}"), "subflows": subflows, "task_runs": task_runs}


def _state(obj: dict[str, Any]) -> str | None:
    return (obj["state"] or {}).get("type")


def _host_states(tree: dict[str, Any]) -> dict[str, str | None]:
    return {run["name"].split("@", 1)[1]: _state(run) for run in tree["task_runs"] if run["name"].startswith("backup_config@")}


def _summary(tree: dict[str, Any]) -> str:
    return json.dumps({
        "run": tree["run"]["state"],
        "subflows": {sub["name"]: sub["state"] for sub in tree["subflows"]},
        "task_runs": {run["name"]: _state(run) for run in tree["task_runs"]},
    }, indent=1, default=str)


@pytest.mark.prefect_server
@pytest.mark.timeout(1200)
def test_a_deployment_run_outlives_its_server(sim_lab: Any, tmp_path: Path, cleanups: ExitStack) -> None:
    lab = sim_lab(ios=len(HOSTS))
    assert sorted(h.name for h in lab.by_kind("sim")) == HOSTS
    gate = Gate(["devices"])
    relayed = []
    for host in lab.by_kind("sim"):
        relay = GatedRelay(host.port, "devices", gate)
        cleanups.callback(relay.stop)
        relayed.append(LabHost(host.name, host.platform, "sim", relay.port))
    cleanups.callback(gate.close)
    settings = gated_inventory(tmp_path / "inventory", relayed, lab.username, lab.password, HOLD_TIMEOUT_S + 60)
    backups = tmp_path / "backups"

    home = tmp_path / "prefect-home"
    server = cleanups.enter_context(prefect_server(home))
    home_marker = f"PREFECT_HOME={home}".encode()
    server.create_process_pool("genja-pool")
    server.deploy(PREFECT_YAML, "backup-configs-nightly", cwd=REPO)
    deployment = server.get("/deployments/name/backup-configs/backup-configs-nightly")
    run_log = tmp_path / "flow-run.log"
    engine = f"sh -c {shlex.quote(f'exec {shlex.quote(sys.executable)} -m prefect.engine >>{shlex.quote(str(run_log))} 2>&1')}"
    run_id: str = server.post(f"/deployments/{deployment['id']}/create_flow_run", {
        "parameters": {"settings": settings, "backup_dir": str(backups), "git": False, "workers": len(HOSTS)},
        "job_variables": {"command": engine},
        "tags": ["test"],
    })["id"]
    cleanups.callback(stop_flow_run_processes, run_id)  # only left when the run did not end
    worker = server.spawn(["worker", "start", "--pool", "genja-pool", "--name", "w-outage"], tmp_path / "worker.log",
                          cwd=tmp_path, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2"})
    cleanups.callback(stop_process, worker)

    def logs() -> str:
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        run = run_log.read_text(errors="replace")[-5000:] if run_log.exists() else "(none)"
        return f"--- worker:\n{worker_log}\n--- flow run:\n{run}"

    # Every host in flight: connected (held at its relay) and its task run Running in the API.
    assert gate.wait_for_arrivals(lambda arrived: arrived["devices"] >= len(HOSTS), HOLD_TIMEOUT_S - 60), f"{gate.arrived}\n{logs()}"
    pid = int(wait_for(lambda: server.get(f"/flow_runs/{run_id}")["infrastructure_pid"], 120, "the run's pid"))

    def all_running() -> bool:
        states = _host_states(_run_tree(server, run_id))
        return sorted(states) == HOSTS and set(states.values()) == {"RUNNING"}

    wait_for(all_running, 180, lambda: f"every host's task run Running: {_summary(_run_tree(server, run_id))}")

    kill_server(server)
    gate.release()

    # The run ends by itself: its process and every child of it.
    wait_for(lambda: not process_running(pid) and not flow_run_processes(run_id), RUN_END_TIMEOUT_S,
             lambda: f"the flow-run process ended, left: {flow_run_processes(run_id)}\n{logs()}", interval=1.0)
    ended = time.time()
    output = run_log.read_text(errors="replace")

    # (a) every host's backup written
    written = sorted(p.stem for p in backups.glob("*.cfg"))
    assert written == HOSTS, f"{written}\n{logs()}"
    assert all("hostname" in (backups / f"{h}.cfg").read_text() for h in HOSTS)
    last_backup = max((backups / f"{h}.cfg").stat().st_mtime for h in HOSTS)
    print(f"\nlast backup written -> flow-run process gone: {ended - last_backup:.1f} s")

    # (b) one clear line, no traceback; the run ended as it deserves, also for its worker
    assert "Traceback (most recent call last)" not in output, output[-6000:]
    assert "Error logging to API" not in output and "Still processing items" not in output, output[-6000:]
    lines = [line for line in output.splitlines() if "Prefect did not record" in line or "unreachable" in line.lower()]
    assert len(lines) == 1, output[-6000:]
    assert "ConnectError" in lines[0] and "the flow run's final state (Completed)" in lines[0], lines[0]
    assert f"spooled to {home / 'genja-spool'};" in lines[0], lines[0]
    assert "Finished in state Completed()" in output, output[-6000:]

    # (c) the run's record in the spool
    spooled = list((home / "genja-spool").glob("*.jsonl"))
    assert spooled, output[-6000:]
    assert any(run_id in path.read_text() for path in spooled), [p.name for p in spooled]
    # what waits on disk (log lines, artifacts, states) carries no device password
    assert not [p.name for p in spooled if lab.password in p.read_text()]
    assert lab.password not in output

    # The server back on the same database; the spool delivered.
    _restart(server)
    done = subprocess.run([CLI, "prefect", "sync"], cwd=tmp_path, env=server.env, capture_output=True, text=True,
                          timeout=RUN_END_TIMEOUT_S, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr

    def final() -> dict[str, Any] | None:
        tree = _run_tree(server, run_id)
        hosts = _host_states(tree)
        objects = [tree["run"], *tree["subflows"], *tree["task_runs"]]
        return tree if sorted(hosts) == HOSTS and all(_state(o) in TERMINAL for o in objects) else None

    tree = wait_for(final, 120, lambda: f"the run's record final: {_summary(_run_tree(server, run_id))}", interval=1.0)
    assert set(_host_states(tree).values()) == {"COMPLETED"}, _summary(tree)
    assert [_state(s) for s in tree["subflows"]] == ["COMPLETED"], _summary(tree)
    assert _state(tree["run"]) == "COMPLETED", _summary(tree)
    assert not list((home / "genja-spool").glob("*.jsonl"))
    # The process exited 0 (checked this late: the worker logs it after the fact): for any other
    # exit code a worker logs "Process exited with status code: N" and proposes Crashed.
    assert "Process exited with status code" not in (tmp_path / "worker.log").read_text(errors="replace"), logs()
    # Its persisted result (written to local storage by the engine), its artifact and its log
    # lines from the outage on (the WARNING among them) came with the spooled record.
    result = server.flow_run_result(run_id)
    assert sorted(result["hosts"]) == HOSTS and {e["status"] for e in result["hosts"].values()} == {"passed"}, result
    assert prefect_rest.artifacts("genja-backups", run_id, server.api_url)
    logged = [entry["message"] for entry in server.post("/logs/filter", {
        "logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200, "offset": 0})]
    assert any("Prefect did not record all of this run" in m for m in logged), logged
    assert any("Finished in state Completed()" in m for m in logged), logged

    # Every process started for this server is stopped, and counted.
    stop_process(worker)
    server.stop()
    wait_for(lambda: not _processes_with(home_marker), 60,
             lambda: f"no process of this server left: {_processes_with(home_marker)}")


JOBS = '''
import os, pathlib, time
from genja_prefect.task import TaskSuccessResult, task
from genja_prefect_flows.common import build_runtime

MARKERS = pathlib.Path(os.environ["OUTAGE_MARKERS"])


@task(name="outage_work")
class Work:
    def start(self, task, host, context):
        (MARKERS / f"working-{host.id}").touch()
        deadline = time.monotonic() + 240  # the test lets it go on once the server is killed
        while not (MARKERS / "server-killed").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return TaskSuccessResult(result=host.id)


def explode_job(settings, filter=None, workers=None, runner=None):
    build_runtime(settings, filter, workers, runner, job="explode").run_tasks([Work()])
    raise RuntimeError("the job's own error after its hosts")
'''

CALLER = '''
from genja_prefect_flows.jobs import JobSpec

JobSpec("explode", "explode-job", "outage_jobs").flow()(settings="settings.yaml")
'''


@pytest.mark.prefect_server
@pytest.mark.timeout(900)
def test_a_job_failing_for_its_own_reason_while_prefect_is_down_keeps_its_traceback(
    tmp_path: Path, cleanups: ExitStack
) -> None:
    """A ready-made job's flow (Prefect's flow engine, called from Python) whose server dies
    while its hosts work, and whose function then raises its own error: the error and its
    traceback are shown (and raised to the caller) as without an outage, Prefect's connection
    errors are not, one line says the Failed state was spooled, and after a restart and
    ``prefect sync`` the flow run is Failed with that error."""
    job = tmp_path / "job"
    (job / "markers").mkdir(parents=True)
    (job / "outage_jobs.py").write_text(JOBS)
    (job / "caller.py").write_text(CALLER)
    (job / "hosts.yaml").write_text("h1:\n  hostname: 127.0.0.1\nh2:\n  hostname: 127.0.0.1\n")
    (job / "settings.yaml").write_text("inventory:\n  plugin: FileInventoryPlugin\n  options: {hosts_file: hosts.yaml}\n")
    home = tmp_path / "prefect-home"
    server = cleanups.enter_context(prefect_server(home))
    proc = subprocess.Popen([sys.executable, "caller.py"], cwd=job, env={**server.env, "OUTAGE_MARKERS": str(job / "markers")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    cleanups.callback(stop_process, proc)  # type: ignore[arg-type]
    wait_for(lambda: len(list((job / "markers").glob("working-*"))) == 2 or proc.poll() is not None, 180,
             "both hosts working")
    kill_server(server)
    (job / "markers" / "server-killed").touch()
    output, _ = proc.communicate(timeout=RUN_END_TIMEOUT_S)

    assert proc.returncode != 0, output[-6000:]  # the caller gets the job's error
    assert "RuntimeError: the job's own error after its hosts" in output, output[-6000:]
    assert "Traceback (most recent call last)" in output, output[-6000:]  # its traceback is shown
    assert "ConnectError" not in output.replace("(ConnectError: [Errno 111] Connection refused)", ""), output[-6000:]
    assert "Error logging to API" not in output and "Still processing items" not in output, output[-6000:]
    lines = [line for line in output.splitlines() if "Prefect did not record" in line]
    assert len(lines) == 1 and "the flow run's final state (Failed)" in lines[0], output[-6000:]

    _restart(server)
    done = subprocess.run([CLI, "prefect", "sync"], cwd=job, env=server.env, capture_output=True, text=True,
                          timeout=RUN_END_TIMEOUT_S, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    runs = server.post("/flow_runs/filter", {"flows": {"name": {"any_": ["explode-job"]}}, "limit": 10, "offset": 0})
    outer = [r for r in runs if not r.get("parent_task_run_id")]
    assert len(outer) == 1, runs
    tree = wait_for(lambda: (lambda t: t if _state(t["run"]) in TERMINAL and all(
        _state(r) in TERMINAL for r in t["task_runs"]) else None)(_run_tree(server, outer[0]["id"])), 120,
        lambda: _summary(_run_tree(server, outer[0]["id"])), interval=1.0)
    assert _state(tree["run"]) == "FAILED", _summary(tree)
    assert "RuntimeError: the job's own error after its hosts" in tree["run"]["state"]["message"], _summary(tree)
    hosts = {r["name"]: _state(r) for r in tree["task_runs"] if r["name"].startswith("outage_work@")}
    assert hosts == {"outage_work@h1": "COMPLETED", "outage_work@h2": "COMPLETED"}, _summary(tree)

    server.stop()
    wait_for(lambda: not _processes_with(f"PREFECT_HOME={home}".encode()), 60,
             lambda: f"no process of this server left: {_processes_with(f'PREFECT_HOME={home}'.encode())}")

"""A deployment run cancelled through the Prefect API while hosts are in flight.

One ``prefect server start`` on 127.0.0.1, the ``genja-pool`` process pool, the deployment
``collect-facts-hourly`` from deployments/prefect.yaml and one process worker. The run collects
facts from six simulated IOS devices with ``workers: 2``; each device sits behind a loopback
relay (tests/flows/relay.py) that holds new SSH connections. Once two hosts are in flight (two
``ssh`` children of the run's process, their connections held at the relays, their task runs
Running) and four are not started, the test cancels the run as the Prefect UI's "Cancel" button
does: ``POST /flow_runs/{id}/set_state`` with ``{"type": "CANCELLING", "name": "Cancelling"}`` and
``force: true`` (``prefect flow-run cancel`` proposes the same state without ``force``).

Prefect 3.8.8 then cancels from the worker: it sends the run's process group SIGTERM (which the
flow engine turns into ``TerminationSignal`` in the main thread), waits up to 30 s for the
process to exit, sends SIGKILL if it has not, and sets the run Cancelled. scrapli's ``ssh``
children lead sessions of their own (each on its own pty), so neither signal reaches them: they
end when the run's process closes their sessions or dies. Two device behaviours:

- ``hung``: the devices never answer, so the hosts in flight never finish: after
  ``genja_prefect.engine.dispatch.CANCEL_GRACE_S`` (20 s, below Prefect's 30 s) the engine stops
  waiting for them, marks their task runs and the subflow Cancelled and the process exits (or
  is killed at 30 s); no host got its facts;
- ``slow``: the devices answer 10 s after the cancel, within the grace: hosts not started are
  skipped ``cancelled`` (Cancelled task runs), the hosts in flight finish with their facts,
  the subflow is Cancelled, every session is closed and the process exits by itself.

Either way: the run ends Cancelled; its process and every ``ssh`` child are gone; no connection
stays open at the relays and the devices hold no session; every task run and the subflow end in
a final state; and the same worker then runs the deployment again to Completed. The server's
clean-up service runs every 5 s here instead of 20 s (only when Prefect's own clean-up comes).
Everything started is stopped, also when the test fails; every wait is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.lab.lab_inventory import LabHost
from tests.flows.prefect_server import (
    TERMINAL,
    PrefectServer,
    flow_run_processes,
    parent_pid,
    prefect_server,
    process_running,
    stop_flow_run_processes,
    wait_for,
)
from tests.flows.relay import HOLD_TIMEOUT_S, Gate, GatedRelay, gated_inventory

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
HOSTS = [f"sim-ios{i}" for i in range(1, 7)]
WORKERS = 2  # the flow's `workers` parameter: hosts in flight at once
TIMEOUT_OPEN_S = HOLD_TIMEOUT_S + 60  # scrapli's open timeout: longer than any hold, so held hosts stay in flight
SLOW_DEVICE_S = 10.0  # a slow device answers this long after the cancel (or its connection): within the 30 s
PREFECT_KILL_GRACE_S = 30  # prefect.runner._cancellation_manager: SIGTERM, then SIGKILL after 30 s


def _ssh_to(ports: set[int]) -> dict[int, tuple[int, int]]:
    """``ssh`` processes connecting to one of ``ports`` on this machine: pid -> (parent pid, port)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "ssh":
                continue
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            ppid = parent_pid(int(entry.name))
        except (OSError, AssertionError):
            continue  # exited meanwhile
        port = next((int(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "-p"), None)
        if port in ports:
            found[int(entry.name)] = (ppid, port)
    return found


def _run_tree(server: PrefectServer, run_id: str) -> dict[str, Any]:
    """The run, its subflows and the task runs of both, as the API has them."""
    subflows = server.post("/flow_runs/filter", {
        "flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}, "limit": 50, "offset": 0})
    task_runs = server.post("/task_runs/filter", {
        "flow_runs": {"id": {"any_": [run_id, *(sub["id"] for sub in subflows)]}}, "limit": 200, "offset": 0})
    return {"run": server.get(f"/flow_runs/{run_id}"), "subflows": subflows, "task_runs": task_runs}


def _state(obj: dict[str, Any]) -> dict[str, Any]:
    """A flow or task run's state type and message (a task run created a moment ago has none yet)."""
    state = obj["state"] or {}
    return {"type": state.get("type"), "message": state.get("message")}


def _host_runs(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """host -> its ``collect_facts@HOST`` task run's state."""
    return {run["name"].split("@", 1)[1]: _state(run) for run in tree["task_runs"] if run["name"].startswith("collect_facts@")}


def _summary(tree: dict[str, Any]) -> str:
    """The states of a run tree, for failure messages."""
    return json.dumps({
        "run": _state(tree["run"]),
        "subflows": {sub["name"]: _state(sub) for sub in tree["subflows"]},
        "task_runs": {run["name"]: _state(run) for run in tree["task_runs"]},
    }, indent=1)


def _final_tree(server: PrefectServer, run_id: str) -> dict[str, Any] | None:
    """The run tree once the run, its subflows and all their task runs are in final states."""
    tree = _run_tree(server, run_id)
    objects = [tree["run"], *tree["subflows"], *tree["task_runs"]]
    return tree if all(_state(obj)["type"] in TERMINAL for obj in objects) else None


class _Deployed:
    """The module's server, with the pool, the deployment and the worker ``w1`` both device
    behaviours use (the second test also checks the worker goes on after the first's cancel)."""

    def __init__(self, server: PrefectServer, deployment: dict[str, Any], worker: Any, log: Path) -> None:
        self.server, self.deployment, self.worker, self.log_path = server, deployment, worker, log

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Deployed]:
    """One server, pool, deployment and worker for the module: their start is ~20 s of CPU."""
    where = tmp_path_factory.mktemp("cancel-deployment")
    with ExitStack() as stack:
        server = stack.enter_context(prefect_server(
            where / "prefect-home", extra_env={"PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "5"}))
        server.create_process_pool("genja-pool")
        server.deploy(PREFECT_YAML, "collect-facts-hourly", cwd=REPO)
        deployment = server.get("/deployments/name/collect-facts/collect-facts-hourly")
        worker = server.spawn(["worker", "start", "--pool", "genja-pool", "--name", "w1"], where / "w1.log",
                              cwd=where, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2"})
        yield _Deployed(server, deployment, worker, where / "w1.log")


@pytest.mark.prefect_server
@pytest.mark.timeout(1200)  # hung ~75 s, slow ~45 s on an idle 2-core machine; the bounded waits add up to less
@pytest.mark.parametrize("devices", ["hung", "slow"])
def test_cancelled_deployment_run_closes_everything_and_the_worker_goes_on(
    devices: str, deployed: _Deployed, sim_lab: Any, tmp_path: Path, cleanups: ExitStack
) -> None:
    lab = sim_lab(ios=len(HOSTS))
    assert sorted(h.name for h in lab.by_kind("sim")) == sorted(HOSTS)
    gate = Gate(["devices"])
    relays: list[GatedRelay] = []
    relayed = []
    for host in lab.by_kind("sim"):
        relay = GatedRelay(host.port, "devices", gate)
        cleanups.callback(relay.stop)
        relays.append(relay)
        relayed.append(LabHost(host.name, host.platform, "sim", relay.port))
    cleanups.callback(gate.close)  # before the relays stop (last in, first out): refuse held connections
    relay_ports = {relay.port for relay in relays}
    settings = gated_inventory(tmp_path / "inventory", relayed, lab.username, lab.password, TIMEOUT_OPEN_S)

    def open_at_relays() -> int:
        return sum(relay.open_connections for relay in relays)

    def device_sessions() -> int:
        return sum(lab.simulator.connection_count(name) for name in HOSTS)

    server, deployment, worker, log = deployed.server, deployed.deployment, deployed.worker, deployed.log
    assert worker.poll() is None, log()

    def trigger() -> str:
        run_id: str = server.post(f"/deployments/{deployment['id']}/create_flow_run",
                                  {"parameters": {"settings": settings, "workers": WORKERS}, "tags": ["test"]})["id"]
        cleanups.callback(stop_flow_run_processes, run_id)  # only left when a run did not finish
        return run_id

    cancelled = trigger()

    # Two hosts in flight (connections held at the relays), four not started.
    # Every wait below is an event with a bound of minutes: on a loaded 2-core machine a process
    # start, a Prefect import or the server's batched writes take many times what they take idle.
    assert gate.wait_for_arrivals(lambda arrived: arrived["devices"] >= WORKERS, HOLD_TIMEOUT_S - 60), f"{gate.arrived}\n{log()}"
    pid = int(wait_for(lambda: server.get(f"/flow_runs/{cancelled}")["infrastructure_pid"], 120, "the run's pid"))
    assert parent_pid(pid) == worker.pid

    def running_hosts() -> list[str] | None:
        running = [h for h, run in _host_runs(_run_tree(server, cancelled)).items() if run["type"] == "RUNNING"]
        return running if len(running) >= WORKERS else None

    in_flight = wait_for(running_hosts, 180, lambda: f"{WORKERS} host task runs Running: {_summary(_run_tree(server, cancelled))}")
    tree = _run_tree(server, cancelled)
    assert len(in_flight) == WORKERS and len(_host_runs(tree)) == WORKERS, _summary(tree)
    assert tree["run"]["state"]["type"] == "RUNNING", _summary(tree)
    # the run's own ssh children (other test processes' ssh may reach a port number of ours)
    ssh = {p: v for p, v in _ssh_to(relay_ports).items() if v[0] == pid}
    assert len(ssh) == WORKERS, _ssh_to(relay_ports)
    assert gate.arrived["devices"] == WORKERS and open_at_relays() == WORKERS

    # Cancel as the UI does.
    answer = server.post(f"/flow_runs/{cancelled}/set_state",
                         {"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True})
    assert answer["status"] == "ACCEPT", answer
    if devices == "slow":
        gate.slow_down(SLOW_DEVICE_S)  # the devices answer now, slowly; a hung device never does
    final = server.wait_for_run(cancelled, timeout=PREFECT_KILL_GRACE_S + 270)
    assert final["state"]["type"] == "CANCELLED", f"{_summary(_run_tree(server, cancelled))}\n{log()}"

    # Nothing of the run is left: its process (and whatever Prefect ran for it afterwards), its
    # ssh children, a connection at a relay, a session on a device.
    wait_for(lambda: not flow_run_processes(cancelled) and not process_running(pid), 120,
             lambda: f"the cancelled run's processes gone, left: {flow_run_processes(cancelled)}")
    wait_for(lambda: not _ssh_to(relay_ports), 60, lambda: f"ssh processes to the devices gone, left: {_ssh_to(relay_ports)}")
    wait_for(lambda: open_at_relays() == 0, 60, lambda: f"connections at the relays closed, {open_at_relays()} open")
    wait_for(lambda: device_sessions() == 0, 60, lambda: f"device sessions closed, {device_sessions()} open")

    # No task run and no subflow left Running.
    tree = wait_for(lambda: _final_tree(server, cancelled), 180, lambda: (
        f"every task run and subflow of the cancelled run in a final state: {_summary(_run_tree(server, cancelled))}"))
    assert len(tree["subflows"]) == 1, _summary(tree)
    hosts = _host_runs(tree)
    connected = gate.arrived["devices"]  # hosts that started: one connection each
    lost: list[str] = []
    if devices == "hung":
        # Killed while connecting: no host started after the cancel, and the hosts in flight
        # never got their facts (their task runs and the subflow were cancelled by Prefect).
        assert connected == WORKERS and sorted(hosts) == sorted(in_flight), _summary(tree)
        assert all(run["type"] != "COMPLETED" for run in hosts.values()), _summary(tree)
        assert tree["subflows"][0]["state"]["type"] == "CANCELLED", _summary(tree)
    else:
        # Every host has one task run; those that never connected were skipped as cancelled.
        assert sorted(hosts) == HOSTS, _summary(tree)
        skipped = sorted(h for h, run in hosts.items() if run["message"].startswith("skipped (cancelled)"))
        assert skipped and len(skipped) == len(HOSTS) - connected, _summary(tree)
        assert not set(in_flight) & set(skipped), _summary(tree)
        # hosts that never started are Cancelled task runs, and so is the root task's subflow
        assert all(hosts[h]["type"] == "CANCELLED" for h in skipped), _summary(tree)
        assert tree["subflows"][0]["state"]["type"] == "CANCELLED", _summary(tree)
        # The hosts in flight should finish with their facts (checked last, see below).
        lost = sorted(h for h, run in hosts.items()
                      if h not in skipped and not (run["type"] == "COMPLETED" and "Cisco" in (run["message"] or "")))

    # The worker is unharmed: still running, it takes and completes the next run.
    assert worker.poll() is None, log()
    gate.release()
    again = trigger()
    rerun = server.wait_for_run(again, timeout=300, workers=[worker])
    assert rerun["state"]["type"] == "COMPLETED", f"{_summary(_run_tree(server, again))}\n{log()}"
    assert rerun["labels"]["prefect.worker.name"] == "w1" and worker.poll() is None
    facts = server.flow_run_result(again)
    assert sorted(facts["hosts"]) == HOSTS and all(e["status"] == "passed" for e in facts["hosts"].values()), facts
    wait_for(lambda: open_at_relays() == 0 and device_sessions() == 0 and not _ssh_to(relay_ports), 60,
             "connections of the second run closed")

    # Every host in flight finished with its facts. (This lost a host about every other run
    # until dispatch.run_threaded stopped re-joining threads after an interrupted join: on
    # Python 3.11 that marks a still-running thread stopped, CPython issue 90882.)
    states = "; ".join(f"{h}: {hosts[h]['type']} {hosts[h]['message']!r}" for h in lost)
    assert not lost, f"hosts in flight lost on cancel: {states}"

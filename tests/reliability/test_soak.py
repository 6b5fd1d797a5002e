"""Soak: 200 simulated devices x 5 root tasks, ~10 % of the devices faulty (seeded), Prefect on.

0 results lost (200 per root task, each faulty host classified the same way in every root
task), 0 connections left open (seen from the job's process and from the devices), and the
Prefect record complete (flow run message, one subflow and one artifact row per host per root
task). The job runs in a child process (``soak_job.py``): see the module docstring there.

Prefect records the hosts in batch mode here (``prefect.host_runs: batch``, 50 hosts per task
run): one Prefect task run per host costs ~30 ms of CPU each, 1,000 of them would dominate the
reliability suite's time on a 2-core machine. Per-host task runs are covered with faults in
``test_faults_prefect.py``; ``GENJA_REL_SOAK_HOST_RUNS=per_host`` runs this soak that way.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.lab.simulator import Simulator

from . import prefect_api as api
from .conftest import ssh_host

SOAK_PASSWORD = "soak-Pw-5e0c"
DEVICES = 200
ROOT_TASKS = 5
FAULTY = 20  # 10 %
SEED = 20260506
JOB = Path(__file__).with_name("soak_job.py")
EXPECTED_KIND = {"auth": "authentication", "drop": "connection", "slow": "timeout", "refused": "connection",
                 "unresolvable": "connection"}


@pytest.fixture(scope="module")
def soak_sim() -> Iterator[Simulator]:
    with Simulator.from_counts(ios=DEVICES, prefix="soak-", password=SOAK_PASSWORD) as sim:
        yield sim


def _closed_port() -> int:
    from genja_prefect.ports import free_listen_port

    return free_listen_port()  # below the ephemeral range: no other test process's server gets it


def soak_inventory(sim: Simulator) -> tuple[dict[str, Any], dict[str, str]]:
    """Hosts for every device, and the fault of each faulty one (seeded, turned on in ``sim``)."""
    rng = random.Random(SEED)
    names = [d.name for d in sim.devices]
    faulty = rng.sample(names, FAULTY)
    kinds = list(EXPECTED_KIND)
    faults = {name: kinds[i % len(kinds)] for i, name in enumerate(faulty)}
    hosts = {d.name: ssh_host(d.port, "ios", SOAK_PASSWORD) for d in sim.devices}
    for name, fault in faults.items():
        device = sim.device(name)
        if fault == "auth":
            device.fail_auth = True
        elif fault == "drop":
            device.drop_on = "show version"
        elif fault == "slow":
            device.delay_s = 3.0  # every answer; the session cannot even open in 1 s
            hosts[name] = ssh_host(device.port, "ios", SOAK_PASSWORD, timeout_open=1)
        elif fault == "refused":
            hosts[name] = ssh_host(_closed_port(), "ios", SOAK_PASSWORD)
        else:
            hosts[name] = ssh_host(device.port, "ios", SOAK_PASSWORD, hostname="nonexistent.invalid")
    return hosts, faults


def reset(sim: Simulator) -> None:
    for device in sim.devices:
        device.delay_s, device.fail_auth, device.drop_on = 0.0, False, None


@contextmanager
def job(spec: dict[str, Any], tmp_path: Path, timeout: float = 600) -> Iterator[dict[str, Any]]:
    """Run ``soak_job.py`` on ``spec``; yield its report while it is still alive; always stop it."""
    spec_file, err_file = tmp_path / "spec.json", tmp_path / "job.stderr"
    spec_file.write_text(json.dumps(spec))
    env = dict(os.environ)
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    with open(err_file, "w") as err:
        proc = subprocess.Popen([sys.executable, str(JOB), str(spec_file)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0].strip():
            proc.kill()
            proc.wait()
            tail = err_file.read_text()[-3000:]
            raise AssertionError(f"the job ended without a report (exit code {proc.returncode}):\n{tail}")
        yield json.loads(lines[0])
        proc.stdin.write("\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        assert proc.wait(60) == 0, err_file.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_soak_200_devices_5_root_tasks_10_percent_faulty(
    soak_sim: Simulator, tmp_path: Path, prefect_api: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    flow_name, prefix = f"genja-rel-soak-{suffix}", f"soak_{suffix}"
    hosts, faults = soak_inventory(soak_sim)
    try:
        settings = {
            "prefect": {"enabled": True, "flow_name": flow_name,
                        "host_runs": os.environ.get("GENJA_REL_SOAK_HOST_RUNS", "batch"), "batch_size": 50},
            "runner": {"worker_count": 20, "max_connection_attempts": 2, "connection_backoff_ms": 50},
        }
        spec = {"hosts": hosts, "settings": settings, "tasks": ROOT_TASKS, "task_prefix": prefix,
                "ports": [d.port for d in soak_sim.devices]}
        with job(spec, tmp_path) as report:
            # while the job's process is still alive: the devices hold no connection either
            live = {d.name: n for d in soak_sim.devices if (n := soak_sim.connection_count(d.name))}
            assert live == {}, live
    finally:
        reset(soak_sim)

    assert report["children"] == 0 and report["tcp"] == 0, report  # no ssh child, no socket left
    trees = report["trees"]
    assert [t["task_name"] for t in trees] == [f"{prefix}_{i}" for i in range(1, ROOT_TASKS + 1)]
    lost, wrong = [], []
    for tree in trees:
        if sorted(tree["hosts"]) != sorted(hosts):
            lost.append((tree["task_name"], len(tree["hosts"])))
        for host_id, result in tree["hosts"].items():
            want = ("failed", EXPECTED_KIND[faults[host_id]]) if host_id in faults else ("passed", None)
            got = (result["status"], result.get("kind"))
            if got != want:
                wrong.append((tree["task_name"], host_id, want, got, result.get("message", "")[:300]))
    assert lost == [], lost  # 200 results per root task
    assert wrong == [], wrong[:10]

    # Prefect has the whole job: the final message, a subflow per root task, a row per host
    (outer,) = api.flow_runs(flow_name)
    # 10 % of the devices are faulty and prefect.fail_on is any (the default): a red run
    assert outer["state"]["type"] == "FAILED", outer["state"]
    assert f"{ROOT_TASKS} root task(s): {FAULTY} of {DEVICES} hosts failed" in outer["state"]["message"]
    subflows = api.flow_runs(parent=outer["id"])
    assert len(subflows) == ROOT_TASKS and all(s["state"]["type"] == "FAILED" for s in subflows)
    for subflow in subflows:
        tables = [a for a in api.artifacts_of([subflow["id"]]) if a["type"] == "table"]
        rows = tables[0]["data"] if isinstance(tables[0]["data"], list) else json.loads(tables[0]["data"])
        assert len(rows) == DEVICES and sum(r["status"] == "failed" for r in rows) == FAULTY


def test_scrapli_sessions_on_file_descriptors_above_1023(soak_sim: Simulator, tmp_path: Path) -> None:
    """A process that already holds ~1,000 fds (a busy worker, or ~170 cached sessions) still
    opens and uses scrapli sessions: 3 healthy devices, fds padded past 1024. scrapli's own
    select() wait fails there (and the process could segfault); the plugin waits with poll()."""
    devices = soak_sim.devices[:3]
    hosts = {d.name: ssh_host(d.port, "ios", SOAK_PASSWORD) for d in devices}
    spec = {"hosts": hosts, "tasks": 1, "pad_fds": 1024, "ports": [d.port for d in devices],
            "settings": {"prefect": {"enabled": False}, "runner": {"max_connection_attempts": 1}}}
    with job(spec, tmp_path, timeout=120) as report:
        pass
    (tree,) = report["trees"]
    assert {h: r["status"] for h, r in tree["hosts"].items()} == {h: "passed" for h in hosts}, tree

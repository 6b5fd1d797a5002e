"""The Prefect server failing around a run never costs a result (issue 20).

A real ``prefect server start`` (its own SQLite home, a free loopback port) is started and
stopped by this module; ``genja-prefect run`` runs as a subprocess against it, on six hosts
whose work is a short sleep (no device: the subject is Prefect, not the network). For each
fault: the CLI prints every host's result and exits 0 without a traceback, at most one WARNING
says what was not recorded, and once the server is back (and ``genja-prefect prefect sync``
has run) the API shows every host's task run in a final state and the run's flow run final.

- killed before the run, and killed during the run (then restarted, then synced);
- killed and restarted while the run's hosts are still working;
- killed the moment the last host finishes (the record's tail is what is lost);
- answering 503 for 10 s from the run's start (a proxy in front of it): caught up in the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.flows.prefect_server import PrefectServer, _wait_healthy, kill_server, prefect_server, wait_for

from .api_proxy import ApiProxy

CLI = str(Path(sys.executable).parent / "genja-prefect")
HOSTS = [f"h{i}" for i in range(1, 7)]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: The CLI must be done within this after its hosts (record_timeout_s is 15 s); generous for load.
CLI_TIMEOUT_S = 240.0

TASKS = '''
import os, pathlib, time
from genja_prefect.task import TaskSuccessResult, task


def _work(name):
    @task(name=name)
    class Work:
        def start(self, task, host, context):
            time.sleep(float(host.data["work_s"]))
            pathlib.Path(os.environ["OUTAGE_MARKERS"], f"{task.name}-{host.id}").touch()
            return TaskSuccessResult(result=host.id, summary=f"worked on {host.id}")
    return Work


Before = _work("outage_before")
During = _work("outage_during")
Restart = _work("outage_restart")
AtEnd = _work("outage_at_end")
Busy = _work("outage_503")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with prefect_server(tmp_path_factory.mktemp("outage-server")) as srv:
        yield srv


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("outage-job")
    (root / "tasks.py").write_text(TASKS)
    (root / "hosts.yaml").write_text("".join(f"{h}:\n  hostname: 127.0.0.1\n  data: {{work_s: 1.0}}\n" for h in HOSTS))
    (root / "settings.yaml").write_text(
        "inventory:\n  plugin: FileInventoryPlugin\n  options: {hosts_file: hosts.yaml}\n"
        "runner: {plugin: threaded, worker_count: 2}\n"
    )
    (root / "markers").mkdir()
    (root / "client-home").mkdir()
    return root


def restart(server: PrefectServer) -> None:
    """Start the server again on the same port and database; wait until it answers."""
    proc = server.spawn(["server", "start", "--host", "127.0.0.1", "--port", str(server.port)], server.log)
    server.processes[0] = proc
    server.processes.pop()
    _wait_healthy(server, proc, 240.0)


def cli_env(server: PrefectServer, job_dir: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in server.env.items() if k not in ("PREFECT_SERVER_API_PORT", "PREFECT_SERVER_API_HOST")}
    env.update(
        PREFECT_API_URL=api_url or server.api_url,
        PREFECT_HOME=str(job_dir / "client-home"),
        PREFECT_LOGGING_LEVEL="WARNING",
        OUTAGE_MARKERS=str(job_dir / "markers"),
    )
    return env


def start_cli(job_dir: Path, env: dict[str, str], task: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", f"tasks.py:{task}", "--settings", "settings.yaml", "--json"],
        cwd=job_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish_cli(proc: subprocess.Popen[str], job_dir: Path, task_name: str) -> tuple[str, float]:
    """Wait for the CLI; check its results; return its stderr and the seconds from its last host to its exit."""
    out, err = proc.communicate(timeout=CLI_TIMEOUT_S)
    ended = time.time()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    tree = __import__("json").loads(out)
    assert sorted(tree["hosts"]) == HOSTS and all(r["status"] == "passed" for r in tree["hosts"].values()), out
    last_host = max((job_dir / "markers" / f"{task_name}-{h}").stat().st_mtime for h in HOSTS)
    return err, ended - last_host


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if "Prefect did not record" in line]


def sync(server: PrefectServer, job_dir: Path) -> str:
    done = subprocess.run(
        [CLI, "prefect", "sync"], cwd=job_dir,
        env=cli_env(server, job_dir), capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done.stdout


def recorded(server: PrefectServer, task_name: str) -> dict[str, Any]:
    """Task runs of ``task_name`` by host (their state types), and their flow runs' state types."""
    runs = httpx.post(
        f"{server.api_url}/task_runs/filter", json={"task_runs": {"name": {"like_": f"{task_name}@"}}, "limit": 200}, timeout=30
    ).json()
    hosts = {r["name"].split("@", 1)[1]: r["state_type"] for r in runs}
    subflows = httpx.post(
        f"{server.api_url}/flow_runs/filter", json={"flow_runs": {"name": {"like_": task_name}}, "limit": 50}, timeout=30
    ).json()
    subflows = [s for s in subflows if s.get("parent_task_run_id")]  # the outer run's name has the task's too
    parents = [httpx.get(f"{server.api_url}/task_runs/{s['parent_task_run_id']}", timeout=30).json() for s in subflows]
    outer = [httpx.get(f"{server.api_url}/flow_runs/{p['flow_run_id']}", timeout=30).json() for p in parents]
    return {
        "hosts": hosts,
        "subflows": [s["state_type"] for s in subflows],
        "flow_runs": [o["state_type"] for o in outer],
    }


def assert_all_final(server: PrefectServer, task_name: str, timeout: float = 120.0) -> None:
    def done() -> bool:
        seen = recorded(server, task_name)
        return (
            sorted(seen["hosts"]) == HOSTS
            and set(seen["hosts"].values()) == {"COMPLETED"}
            and seen["subflows"] == ["COMPLETED"]
            and seen["flow_runs"] == ["COMPLETED"]
        )

    wait_for(done, timeout, lambda: f"{task_name}: {recorded(server, task_name)}", interval=1.0)


FIGURES: dict[str, str] = {}


def test_server_killed_during_a_run_and_down_for_the_next_one(server: PrefectServer, job_dir: Path) -> None:
    env = cli_env(server, job_dir)
    proc = start_cli(job_dir, env, "During")
    markers = job_dir / "markers"
    wait_for(lambda: any(markers.glob("outage_during-*")) or proc.poll() is not None, 120, "a first host done")
    kill_server(server)
    err, after = finish_cli(proc, job_dir, "outage_during")
    assert len(warnings_in(err)) == 1, err
    FIGURES["killed during the run"] = f"{after:.1f} s"

    # the next run starts with the server still down
    err, after = finish_cli(start_cli(job_dir, env, "Before"), job_dir, "outage_before")
    assert len(warnings_in(err)) == 1, err
    FIGURES["down before the run"] = f"{after:.1f} s"
    assert list((job_dir / "client-home" / "genja-spool").glob("*.jsonl"))

    restart(server)
    assert "0 still waiting" in sync(server, job_dir)
    assert_all_final(server, "outage_during")
    assert_all_final(server, "outage_before")
    assert not list((job_dir / "client-home" / "genja-spool").glob("*.jsonl"))


def test_server_killed_and_restarted_while_hosts_work(server: PrefectServer, job_dir: Path) -> None:
    hosts = job_dir / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("work_s: 1.0", "work_s: 3.0"))
    try:
        proc = start_cli(job_dir, cli_env(server, job_dir), "Restart")
        wait_for(lambda: any((job_dir / "markers").glob("outage_restart-*")), 120, "a first host done")
        kill_server(server)
        restart(server)
        err, after = finish_cli(proc, job_dir, "outage_restart")
    finally:
        hosts.write_text(hosts.read_text().replace("work_s: 3.0", "work_s: 1.0"))
    assert len(warnings_in(err)) <= 1, err
    FIGURES["killed and restarted mid-run"] = f"{after:.1f} s" + (" (spooled)" if warnings_in(err) else " (caught up in the run)")
    sync(server, job_dir)
    assert_all_final(server, "outage_restart")


def test_server_killed_when_the_last_host_finishes(server: PrefectServer, job_dir: Path) -> None:
    proc = start_cli(job_dir, cli_env(server, job_dir), "AtEnd")
    wait_for(lambda: len(list((job_dir / "markers").glob("outage_at_end-*"))) == len(HOSTS), 120, "every host done", 0.05)
    kill_server(server)
    err, after = finish_cli(proc, job_dir, "outage_at_end")
    assert len(warnings_in(err)) <= 1, err
    FIGURES["killed as the last host finishes"] = f"{after:.1f} s"
    restart(server)
    sync(server, job_dir)
    assert_all_final(server, "outage_at_end")


def test_server_answering_503_for_10_s_is_caught_up_within_the_run(server: PrefectServer, job_dir: Path) -> None:
    proxy = ApiProxy(server.api_url)
    try:
        proxy.fail_for(10.0)
        err, after = finish_cli(start_cli(job_dir, cli_env(server, job_dir, proxy.url), "Busy"), job_dir, "outage_503")
    finally:
        proxy.stop()
    assert proxy.refused > 0
    assert not warnings_in(err), err  # nothing spooled: delivered once the 503s stopped
    FIGURES["503 for 10 s"] = f"{after:.1f} s"
    assert_all_final(server, "outage_503")
    print("\noutage figures (last host -> CLI exit):", FIGURES)

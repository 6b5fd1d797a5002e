"""The temporary Prefect server (no ``PREFECT_API_URL``) never blocks host work and never outlives
the process that started it: not after a start timeout, not after SIGKILL, not after Ctrl-C.

Each test runs a Python process on its own PREFECT_HOME and counts the server processes
(``uvicorn ... prefect.server.api.server:create_app`` whose environment names that home)
before and after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import server_template
from tests.process_probe import wait_for

JOB = """
import os, pathlib, signal, sys, time
# Ctrl-C raises KeyboardInterrupt, as at a terminal. A shell without job control (`cmd &` in a
# script, some CI runners) starts background commands with SIGINT ignored; the test worker and
# this job would inherit that, and the job then never sees the test's SIGINT.
signal.signal(signal.SIGINT, signal.default_int_handler)
import genja_prefect as genja_lib
from genja_prefect.engine.execution import cancellation
from genja_prefect.task import TaskSuccessResult, task

@task(name="tick")
class Tick:
    def start(self, task, host, context):
        pathlib.Path(os.environ["MARKERS"], host.id).touch()
        if os.environ.get("UNTIL_CANCELLED"):
            # a long task that ends when the run is cancelled (Ctrl-C), within a bound
            ended = cancellation().wait(float(os.environ["UNTIL_CANCELLED"]))
            print(f"{host.id} saw the cancel: {ended}", flush=True)
        else:
            time.sleep(float(os.environ.get("WORK_S", "0")))
        return TaskSuccessResult(result=host.id)

settings = {"prefect": {"server_start_timeout_s": float(os.environ.get("START_TIMEOUT", "120"))}}
genja = genja_lib.Genja.from_hosts({f"h{i}": {} for i in range(4)}, settings=settings)
results = genja.run_task(Tick)
print("results", sorted(r.status for r in results.hosts.values()), flush=True)
"""


def server_processes(home: Path) -> list[int]:
    """Pids of temporary servers started for PREFECT_HOME ``home``."""
    marker = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"prefect.server.api.server:create_app" in cmdline and marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def start_job(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    (tmp_path / "markers").mkdir(exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    full.update(PREFECT_HOME=str(tmp_path), PREFECT_LOGGING_LEVEL="WARNING", MARKERS=str(tmp_path / "markers"), **env)
    server_template.seed_home(tmp_path)  # the session's migrated database: the server skips its migrations
    return subprocess.Popen([sys.executable, "-c", JOB], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_server_that_does_not_start_in_time_costs_no_result_and_is_stopped(tmp_path: Path) -> None:
    proc = start_job(tmp_path, START_TIMEOUT="0.5")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "results ['passed', 'passed', 'passed', 'passed']" in out
    assert "Traceback" not in err, err[-3000:]
    warnings = [line for line in err.splitlines() if "Prefect did not record" in line]
    assert len(warnings) == 1 and "did not start within" in warnings[0], err[-3000:]
    assert list((tmp_path / "genja-spool").glob("*.jsonl"))  # the record waits for a later run
    assert wait_for(lambda: not server_processes(tmp_path), 30), server_processes(tmp_path)


def test_the_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    proc = start_job(tmp_path, WORK_S="120")
    try:
        assert wait_for(lambda: len(list((tmp_path / "markers").iterdir())) > 0, 120)
        assert wait_for(lambda: bool(server_processes(tmp_path)), 60)
    finally:
        proc.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the kernel's parent-death signal
        proc.communicate(timeout=60)
    assert wait_for(lambda: not server_processes(tmp_path), 30), server_processes(tmp_path)


@pytest.mark.timeout(900)  # every wait inside is bounded; they add up to more than the default 300 s
def test_ctrl_c_during_the_run_leaves_no_server(tmp_path: Path) -> None:
    # The hosts work until the run is cancelled (at most 240 s): no fixed work time to race
    # the signal on a loaded machine.
    proc = start_job(tmp_path, UNTIL_CANCELLED="240")
    try:
        assert wait_for(lambda: len(list((tmp_path / "markers").iterdir())) > 0, 120)
        assert wait_for(lambda: bool(server_processes(tmp_path)), 60)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=400)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    assert "saw the cancel: True" in out and "saw the cancel: False" not in out, out
    assert wait_for(lambda: not server_processes(tmp_path), 30), server_processes(tmp_path)

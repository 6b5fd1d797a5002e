"""Scale-out on Dask: the same job gives the same result tree on a 2-process LocalCluster,
with connections cached per worker process and closed at the end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.connection import ConnectionBase, ConnectionPluginBase
from genja_prefect.task import TaskSuccessResult, task
from tests import server_template

pytest.importorskip("prefect_dask")
pytestmark = pytest.mark.usefixtures("prefect_api")


class FileConn(ConnectionBase):
    """Records open/close in a folder, so the test sees what happened in worker processes."""

    def __init__(self, key: Any, folder: str) -> None:
        self.key, self.folder, self.alive = key, folder, False

    def open(self, params: Any) -> None:
        self.alive = True
        Path(self.folder, f"open-{self.key.host_id}-{os.getpid()}").touch()

    def execute_command(self, command: str) -> str:
        return f"{self.key.host_id}: {command}"

    def close(self) -> Any:
        self.alive = False
        Path(self.folder, f"close-{self.key.host_id}-{os.getpid()}").touch()
        return self.key

    def is_alive(self) -> bool:
        return self.alive


class FilePlugin(ConnectionPluginBase):
    name = "filelog"

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def create(self, key: Any) -> FileConn:
        return FileConn(key, self.folder)


@task(name="check")
class Check:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        return TaskSuccessResult(result=host.data["n"] * 2)


@task(name="show", connection_plugin_name="filelog", sub_tasks=[Check])
class Show:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        return TaskSuccessResult(summary=context.connection().execute_command("show version"), metadata={"site": host.data["site"]})


def untimed(data: Any) -> Any:
    """Result data without the per-host timing fields."""
    if isinstance(data, dict):
        return {k: untimed(v) for k, v in data.items() if k not in ("started_at", "finished_at", "duration_ms")}
    if isinstance(data, list):
        return [untimed(v) for v in data]
    return data


def test_dask_run_equals_in_process_run(tmp_path: Path) -> None:
    hosts = {f"h{i:02d}": {"platform": "ios", "data": {"n": i, "site": f"s{i % 3}"}} for i in range(12)}
    plugins = genja_lib.PluginManager()
    plugins.register_plugin(FilePlugin(str(tmp_path)))
    base = {"runner": {"worker_count": 4}}
    local = genja_lib.Genja.from_hosts(hosts, settings=base, plugin_manager=plugins)
    on_dask = local.with_settings(prefect={"task_runner": "dask", "dask_workers": 2})

    expected = local.run_tasks([Show, Show], max_depth=1)
    for f in tmp_path.iterdir():
        f.unlink()
    got = on_dask.run_tasks([Show, Show], max_depth=1)

    # the same results, timings aside (each run has its own), and timed on the workers too
    assert untimed(got.to_dict()) == untimed(expected.to_dict())
    assert all(r.duration_ms is not None and r.started_at is not None for tree in got for r in tree.hosts.values())
    opened = sorted(p.name for p in tmp_path.glob("open-*"))
    closed = sorted(p.name.replace("close-", "open-") for p in tmp_path.glob("close-*"))
    assert opened == closed  # every connection opened on a worker was closed at the end
    pids = {name.rsplit("-", 1)[1] for name in opened}
    assert str(os.getpid()) not in pids  # the work happened in the worker processes
    # cached per worker: a host opens at most once per worker process, across both root tasks
    per_host_worker = [name for name in opened]
    assert len(per_host_worker) == len(set(per_host_worker))
    assert len({name.split("-")[1] for name in opened}) == 12


_NO_SERVER_JOB = """
import genja_prefect as genja_lib
from genja_prefect.task import TaskSuccessResult, task

@task(name="double")
class Double:
    def start(self, task, host, context):
        return TaskSuccessResult(result=host.data["n"] * 2)

hosts = {f"h{i}": {"data": {"n": i}} for i in range(20)}
settings = {"prefect": {"task_runner": "dask", "dask_workers": 2}, "runner": {"worker_count": 4}}
results = genja_lib.Genja.from_hosts(hosts, settings=settings).run_task(Double)
print("results", sum(r.result for r in results.hosts.values()), len(results.passed_hosts), flush=True)
"""


def test_dask_without_a_prefect_server_uses_one_temporary_server_for_every_worker(tmp_path: Path) -> None:
    """No PREFECT_API_URL: one temporary server for the run, its URL inherited by the
    LocalCluster's workers (not one server per worker: no port storm), none left afterwards."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_LOGGING_LEVEL="WARNING")
    server_template.seed_home(tmp_path)  # the session's migrated database: skips the server's migrations
    done = subprocess.run([sys.executable, "-c", _NO_SERVER_JOB], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "results 380 20" in done.stdout, done.stdout + done.stderr[-3000:]
    assert "address already in use" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    servers = [
        p for p in Path("/proc").iterdir()
        if p.name.isdigit() and _reads(p / "cmdline", b"create_app") and _reads(p / "environ", str(tmp_path).encode())
    ]  # fmt: skip
    assert not servers


def _reads(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except OSError:
        return False


def test_dask_on_a_remote_scheduler_without_a_server_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from genja_prefect.prefect.temporary_server import PrefectServerError

    genja = genja_lib.Genja.from_hosts(
        {"h1": {"data": {"n": 1}}}, settings={"prefect": {"task_runner": "dask", "dask_address": "tcp://127.0.0.1:1"}}
    )
    with temporary_settings(updates={PREFECT_API_URL: None}):
        with pytest.raises(PrefectServerError, match="set PREFECT_API_URL"):
            genja.run_task(Check)

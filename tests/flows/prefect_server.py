"""A real ``prefect server start`` on 127.0.0.1 for deployment tests, and the CLI run against it.

Each server gets its own PREFECT_HOME (its own SQLite database, or with
``database="postgresql"`` a PostgreSQL cluster of its own: tests/flows/postgres.py) and a free
loopback port. Every process started here is started in a new session and stopped by its own
process-group id, also when the test fails. :class:`PrefectServer` also has the steps the deployment tests share:
create a process work pool, ``prefect deploy``, wait for a flow run, read its result.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from genja_prefect.ports import free_listen_port
from tests import server_template
from tests.flows import prefect_rest
from tests.flows.postgres import PostgresCluster, postgres_cluster

PREFECT = [sys.executable, "-m", "prefect"]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: The server's database: Prefect's default SQLite file in PREFECT_HOME, or PostgreSQL.
Database = Literal["sqlite", "postgresql"]
DATABASES: tuple[Database, ...] = ("sqlite", "postgresql")


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now, outside the ephemeral range: the
    server binds it seconds later, while the tests in other processes open connections."""
    return free_listen_port()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its group."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def processes_where(environ_matches: Callable[[list[bytes]], bool]) -> list[int]:
    """Pids of the processes whose environment (``NAME=value`` items) ``environ_matches``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if environ_matches(environ):
            found.append(int(entry.name))
    return found


def flow_run_processes(flow_run_id: str) -> list[int]:
    """Pids of the processes running flow run ``flow_run_id``: the worker starts each run with
    PREFECT__FLOW_RUN_ID in its environment, which its children (ssh) inherit."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    return processes_where(lambda environ: marker in environ)


def kill_server(server: "PrefectServer") -> None:
    """SIGKILL the server's whole process group (no clean shutdown), as a crash or an OOM kill would."""
    proc = server.processes[0]
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def stop_server_flow_runs(api_url: str) -> list[int]:
    """SIGKILL every flow-run process a worker started against the server at ``api_url``
    (a process worker starts each run in a session of its own: stopping the worker leaves it).
    For tests whose runs are created by the scheduler, so their ids are not known up front."""
    url, run = f"PREFECT_API_URL={api_url}".encode(), b"PREFECT__FLOW_RUN_ID="
    found = processes_where(lambda environ: url in environ and any(item.startswith(run) for item in environ))
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


def process_running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie waiting to be reaped has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parent_pid(pid: int) -> int:
    """The parent of process ``pid`` (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid in /proc/{pid}/status")


def wait_for(condition: Callable[..., Any], timeout: float, what: str | Callable[[], str],
             interval: float = 0.5) -> Any:
    """``condition()``'s first truthy value, polled every ``interval`` s; AssertionError naming
    ``what`` (or what ``what()`` says then) when none came within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what if isinstance(what, str) else what()}")
        time.sleep(interval)


def stop_flow_run_processes(flow_run_id: str) -> list[int]:
    """Stop processes running flow run ``flow_run_id``. A process worker starts each run in a
    session of its own, so stopping the worker does not stop a run that is still going.
    Returns the pids signalled."""
    found = flow_run_processes(flow_run_id)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


@dataclass
class PrefectServer:
    """A running server: ``api_url`` and the environment that points the CLI at it."""

    home: Path
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    database: Database = "sqlite"
    postgres: PostgresCluster | None = None  # the cluster of a ``database="postgresql"`` server
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 240.0,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``prefect <args>`` against this server; raises with its output when it fails."""
        done = subprocess.run(
            [*PREFECT, *args], cwd=cwd, env={**self.env, **(extra_env or {})},
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"`prefect {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def spawn(self, args: Sequence[str], log: Path, cwd: Path | None = None,
              extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``prefect <args>`` in the background (stopped with the server)."""
        handle = log.open("wb")
        proc = subprocess.Popen(
            [*PREFECT, *args], cwd=cwd, env={**self.env, **(extra_env or {})}, stdout=handle,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        handle.close()
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process started for this server, the server last."""
        for proc in reversed(self.processes):
            stop_process(proc)

    def get(self, path: str) -> Any:
        """GET ``<api>/<path>`` and return the decoded JSON."""
        return prefect_rest.request("GET", path, api_url=self.api_url)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``<api>/<path>`` and return the decoded JSON."""
        return prefect_rest.post(path, body, self.api_url)

    def create_process_pool(self, name: str) -> None:
        """What `prefect work-pool create NAME --type process` does, without another CLI start-up."""
        from prefect.workers.process import ProcessWorker

        self.post("/work_pools/", {"name": name, "type": "process",
                                   "base_job_template": ProcessWorker.get_default_base_job_template()})

    def deploy(self, prefect_file: Path, *names: str, cwd: Path) -> None:
        """``prefect deploy --prefect-file FILE --name NAME...`` run from ``cwd`` (``$PWD`` is the
        pull step's working directory).

        With fastapi 0.154, prefect 3.8.8's ``deploy`` command creates the deployments and then
        fails (exit 1) on its "any worker online?" check: its client posts ``limit: null`` to
        ``/work_pools/<pool>/workers/filter`` and the server answers 422. Exactly that failure is
        tolerated here; check the deployments themselves through the API.
        """
        args = ["--no-prompt", "deploy", "--prefect-file", str(prefect_file)]
        for name in names:
            args += ["--name", name]
        try:
            self.cli(*args, cwd=cwd, extra_env={"PWD": str(cwd)})
        except AssertionError as exc:
            text = str(exc)
            known = "successfully created" in text and "workers/filter" in text and "422" in text
            if not known:
                raise

    def wait_for_run(self, run_id: str, timeout: float,
                     workers: Sequence[subprocess.Popen[bytes]] = ()) -> dict[str, Any]:
        """The flow run once it is in a final state, or as it is after ``timeout`` seconds, or
        while still SCHEDULED once every one of ``workers`` has exited (nobody left to run it)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/flow_runs/{run_id}")
            if run["state"]["type"] in TERMINAL or time.monotonic() > deadline:
                return dict(run)
            if workers and all(w.poll() is not None for w in workers) and run["state"]["type"] == "SCHEDULED":
                return dict(run)
            time.sleep(1)

    def flow_run_result(self, run_id: str) -> Any:
        """The flow run's persisted return value, read through the Prefect client."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        async def read() -> Any:
            async with get_client() as client:
                run = await client.read_flow_run(run_id)
                return await run.state.result(raise_on_failure=True)

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            return asyncio.run(read())


def _wait_healthy(server: PrefectServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited ({proc.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy within {timeout:g} s:\n{server.log.read_text()[-3000:]}")


def drain_prefect_clients(api_url: str, timeout: float = 60.0) -> None:
    """Deliver what this process's Prefect client still holds for ``api_url`` (flow-run events,
    logs) while that server is up. Left queued, Prefect retries each item against the stopped
    server when the test session drains its workers at the end -- minutes per item."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        EventsWorker.drain_all(timeout=timeout)
        APILogWorker.drain_all(timeout=timeout)


@contextmanager
def prefect_server(home: Path, startup_timeout: float = 240.0,
                   extra_env: dict[str, str] | None = None, database: Database = "sqlite",
                   durable_database: bool = False, api_workers: int = 1,
                   services: int = 1) -> Iterator[PrefectServer]:
    """Start ``prefect server start`` on a free loopback port; stop it on exit.

    ``database="sqlite"``: Prefect's default, a SQLite file in ``home``. ``"postgresql"``: a
    PostgreSQL cluster of its own (:func:`tests.flows.postgres.postgres_cluster`, durable or
    not), stopped and removed after the server. ``extra_env`` is added to the environment of
    the server and of every CLI, worker and flow run started through it (server settings).

    ``api_workers > 1``: ``prefect server start --workers N`` (PostgreSQL, and Redis settings in
    ``extra_env``), as Prefect's multi-worker setup wants it: the tables made first (``prefect
    server database upgrade``: N workers migrating one empty database at once collide), no
    block registration at each worker's start (same collision), and the background services,
    which ``--workers`` turns off, in ``services`` processes of their own (``prefect server
    services start``).
    """
    with ExitStack() as stack:
        cluster = None
        db_env = {}
        if database == "postgresql":
            cluster = stack.enter_context(postgres_cluster(free_port(), durable=durable_database))
            db_env["PREFECT_API_DATABASE_CONNECTION_URL"] = cluster.prefect_url
        server = stack.enter_context(_prefect_server(home, startup_timeout, {**db_env, **(extra_env or {})}, database,
                                                     api_workers, services))
        server.postgres = cluster
        yield server


@contextmanager
def _prefect_server(home: Path, startup_timeout: float, extra_env: dict[str, str],
                    database: Database, api_workers: int = 1, services: int = 1) -> Iterator[PrefectServer]:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GENJA_PREFECT_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        # Only the run the test triggers: no scheduled runs racing it.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.update(extra_env)
    server = PrefectServer(home=home, port=port, log=home / "server.log", env=env, database=database)
    if database == "sqlite":
        # A copy of the session's migrated database (tests/server_template.py): the server
        # starts as on a user's second start, without ~10 s of migrations on an empty file.
        server_template.seed_home(home)
    start = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    try:
        if api_workers > 1:
            server.cli("server", "database", "upgrade", "-y", timeout=startup_timeout)
            server.env.update(PREFECT_API_DATABASE_MIGRATE_ON_START="false", PREFECT_API_BLOCKS_REGISTER_ON_START="false")
            start += ["--workers", str(api_workers)]
        proc = server.spawn(start, server.log)
        if api_workers > 1:
            for n in range(services):
                server.spawn(["server", "services", "start"], home / f"services-{n}.log")
        _wait_healthy(server, proc, startup_timeout)
        yield server
    finally:
        drain_prefect_clients(server.api_url)
        server.stop()

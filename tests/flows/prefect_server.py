"""A real ``prefect server start`` on 127.0.0.1 for deployment tests, and the CLI run against it.

Each server gets its own PREFECT_HOME (its own SQLite database) and a free loopback port. Every
process started here is started in a new session and stopped by its own process-group id, also
when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def stop_flow_run_processes(flow_run_id: str) -> list[int]:
    """Stop processes running flow run ``flow_run_id`` (found by the PREFECT__FLOW_RUN_ID in
    their environment). A process worker starts each run in a session of its own, so stopping
    the worker does not stop a run that is still going. Returns the pids signalled."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
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

    def spawn(self, args: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``prefect <args>`` in the background (stopped with the server)."""
        handle = log.open("wb")
        proc = subprocess.Popen(
            [*PREFECT, *args], cwd=cwd, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process started for this server, the server last."""
        for proc in reversed(self.processes):
            stop_process(proc)


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


@contextmanager
def prefect_server(home: Path, startup_timeout: float = 240.0) -> Iterator[PrefectServer]:
    """Start ``prefect server start`` (SQLite in ``home``) on a free loopback port; stop it on exit."""
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
    server = PrefectServer(home=home, port=port, log=home / "server.log", env=env)
    try:
        proc = server.spawn(["server", "start", "--host", "127.0.0.1", "--port", str(port)], server.log)
        _wait_healthy(server, proc, startup_timeout)
        yield server
    finally:
        server.stop()

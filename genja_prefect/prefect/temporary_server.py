"""The temporary Prefect API server of a process that has no ``PREFECT_API_URL``: started in
the background, never outliving the process.

Prefect's own ephemeral server (``SubprocessASGIServer``, started by the first API call) blocks
that call for its whole start (6-13 s on a quiet 2-core machine, 20-30 s under load), fails the
call outright after 20 s, and leaves its ``uvicorn`` process running when the start times out or
when the parent dies without running ``atexit`` (SIGKILL, a crash, ``os._exit``). This module
starts the same server (same command, same database under ``PREFECT_HOME``) itself:

- at once and without waiting: the process's API URL points at its port from the start, the
  run's host work proceeds, and the run's record is posted once ``/health`` answers
  (:meth:`TemporaryServer.wait_ready`);
- in a child that receives SIGTERM when this process dies (Linux ``PR_SET_PDEATHSIG``, set by
  a tiny launcher before it execs the server), and that is stopped at exit, after a start
  timeout, and on Ctrl-C like any other exit.

Example::

    from genja_prefect.prefect.temporary_server import TemporaryServer

    server = TemporaryServer.ensure()   # None when PREFECT_API_URL is set
    if server is not None and server.wait_ready(30):
        print("API at", server.api_url)
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

from genja_prefect.ports import free_listen_port
from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV

__all__ = ["TemporaryServer", "api_url_configured"]

logger = logging.getLogger(__name__)

#: Runs in the child before the server: ask the kernel for SIGTERM when the parent thread
#: dies, then exit at once if the parent is already gone (the race before prctl), then exec.
_LAUNCHER = r"""
import ctypes, os, signal, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass  # not Linux: stopped at exit only
if os.getppid() != parent:
    sys.exit(0)
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
"""


def api_url_configured() -> bool:
    """Whether this process talks to a Prefect server it did not start (``PREFECT_API_URL``)."""
    from genja_prefect.prefect.api import api_url

    url = api_url()
    server = TemporaryServer._instance
    return bool(url) and not (server is not None and server.api_url == url)


class TemporaryServer:
    """This process's temporary Prefect server (one per process; see the module docstring).

    Args:
        start_timeout: how long the background start may take before the server is given up
            (its process stopped); the record of the process's runs is then spooled.
    """

    _instance: ClassVar[TemporaryServer | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, start_timeout: float = 120.0) -> None:
        self.start_timeout = start_timeout
        self.port = free_listen_port()  # outside the ephemeral range: stays free while it starts
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        self.started_at = time.monotonic()
        self.ready_after: float | None = None  # seconds from start to the first healthy answer
        self._ready = threading.Event()
        self._done = threading.Event()  # ready or given up
        self._stopping = False
        # The launching thread must live as long as the process: the kernel's parent-death
        # signal fires when the *thread* that forked the child ends.
        self._thread = threading.Thread(target=self._serve, name="genja-prefect-server", daemon=True)

    @classmethod
    def ensure(cls, start_timeout: float = 120.0) -> TemporaryServer | None:
        """Start this process's temporary server unless an API URL is configured.

        Returns at once; the process's Prefect settings point at the server's URL from now
        on. ``None`` when ``PREFECT_API_URL`` (or the Prefect profile) names a server.
        """
        with cls._lock:
            if cls._instance is not None:
                if not cls._instance._stopping:
                    return cls._instance
            elif api_url_configured():
                return None
            server = cls._instance = cls(start_timeout)
            server._use()
            server._thread.start()
            atexit.register(server.stop)
            return server

    @classmethod
    def current(cls) -> TemporaryServer | None:
        """The server :meth:`ensure` started, if any."""
        return cls._instance

    def _use(self) -> None:
        """Point this process (and the processes it starts, e.g. Dask workers) at the server."""
        for name, value in FAST_INGEST_SERVER_ENV.items():
            os.environ.setdefault(name, value)
        os.environ["PREFECT_API_URL"] = self.api_url
        if "prefect.context" in sys.modules:  # else Prefect reads the environment when imported
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()

    def _command(self) -> list[str]:
        import importlib.util

        # Where Prefect is installed, found without importing it (a second, off the run's path).
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None, "prefect is a dependency"
        return [
            sys.executable, "-c", _LAUNCHER, str(os.getpid()),
            "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
            "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip

    def _serve(self) -> None:
        import httpx

        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"})
        deadline = self.started_at + self.start_timeout
        # A file, not a pipe: nobody reads the server's stderr while it runs, and a full pipe
        # would block it.
        errors = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                self._command(), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
            )
            with httpx.Client(timeout=2.0) as client:
                while not self._stopping:
                    code = self.process.poll()
                    if code is not None:
                        errors.seek(0)
                        err = errors.read().decode(errors="replace")
                        self.error = f"the temporary Prefect server exited with code {code}: {err.strip()[-300:]}"
                        break
                    try:
                        if client.get(f"{self.api_url}/health").status_code == 200:
                            self.ready_after = time.monotonic() - self.started_at
                            self._ready.set()
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        self.error = f"the temporary Prefect server did not start within {self.start_timeout:.0f} s"
                        break
                    time.sleep(0.1)
        except OSError as exc:
            self.error = f"could not start the temporary Prefect server: {exc}"
        errors.close()
        self._done.set()
        if self.error:
            logger.warning("%s; this run's Prefect record is spooled", self.error)
            self.stop()
            return
        # Stay alive with the child (see __init__): wait for it to end.
        if self.process is not None:
            self.process.wait()

    @property
    def ready(self) -> bool:
        """Whether the server answered ``/health``."""
        return self._ready.is_set() and self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float | None) -> bool:
        """Block until the server answers (``True``) or has failed to start / ``timeout`` passed."""
        self._done.wait(timeout)
        return self.ready

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        self._stopping = True
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass


class PrefectServerError(RuntimeError):
    """No Prefect server that the run needs (one line saying what to set)."""


def start_server(start_timeout: float) -> TemporaryServer | None:
    """Start the temporary server unless ``PREFECT_API_URL`` is set (returns at once), and
    deliver spooled records of earlier runs once a server answers (in the background)."""
    from genja_prefect.prefect.spool import replay_in_background

    server = TemporaryServer.ensure(start_timeout)
    replay_in_background(server)
    return server


def deliver_spool(timeout: float) -> tuple[int, int]:
    """``genja-prefect prefect sync``: deliver the spool to the configured server, or to a
    temporary one started for it. Returns (delivered, still waiting) files."""
    from genja_prefect.prefect.spool import replay_spool, spooled_files

    if not spooled_files():
        return 0, 0
    server = TemporaryServer.ensure(timeout)
    if server is not None and not server.wait_ready(timeout):
        return 0, len(spooled_files())
    return replay_spool(timeout)


def require_server_for_dask(start_timeout: float, dask_address: str | None = None) -> None:
    """``task_runner: dask`` runs Prefect's task engine in the Dask workers: they need a server.

    Without ``PREFECT_API_URL`` the temporary server is started here and its URL is in the
    environment the local Dask workers inherit (one server for the run, not one per worker).
    A remote scheduler's workers cannot reach it: that is refused at once.
    """
    if api_url_configured():
        return
    if dask_address:
        raise PrefectServerError(
            f"prefect.task_runner: dask with dask_address {dask_address!r} needs a Prefect server the "
            "Dask workers can reach: set PREFECT_API_URL (e.g. `prefect server start`)"
        )
    server = start_server(start_timeout)
    assert server is not None
    if not server.wait_ready(start_timeout):
        raise PrefectServerError(
            f"prefect.task_runner: dask needs a Prefect server and {server.error or 'the temporary server did not start'}: "
            "set PREFECT_API_URL to a running server (e.g. `prefect server start`)"
        )

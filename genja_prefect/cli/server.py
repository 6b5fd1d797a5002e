"""``genja-prefect server start|stop|status``: a local Prefect server in the background.

Without a server, every CLI run that Prefect records starts Prefect's temporary server
(6-13 s on a quiet 2-core machine). ``genja-prefect server start`` starts ``prefect server
start`` once, on 127.0.0.1, with the settings that make it ingest host runs fast
(:data:`genja_prefect.prefect.server.FAST_INGEST_SERVER_ENV`) and no telemetry; later CLI runs
find it through its state file and use it, so only the first call pays the start. The state
file, ``genja-prefect-server.json``, and the server's log live in ``PREFECT_HOME``
(``~/.prefect``), whose database the server uses as the temporary server does.

This module starts a process; it does not import Prefect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genja_prefect.errors import GenjaError
from genja_prefect.processes import pid_alive, stop_process

STATE_FILE = "genja-prefect-server.json"
LOG_FILE = "genja-prefect-server.log"


class ServerError(GenjaError):
    """The background server cannot be started, reached or stopped."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ServerState:
    """A background server this command started: process, URLs, log."""

    pid: int
    url: str
    log_file: Path

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def prefect_home() -> Path:
    """Prefect's home folder, as Prefect resolves it (``PREFECT_HOME`` or ``~/.prefect``)."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def _state_path() -> Path:
    return prefect_home() / STATE_FILE


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=timeout) as reply:  # noqa: S310 - loopback URL we wrote
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def server_status() -> ServerState | None:
    """The running background server, or None (a stale state file is removed)."""
    path = _state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = ServerState(int(data["pid"]), str(data["url"]), Path(data["log_file"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def server_start(port: int = 4200, timeout: float = 120.0) -> ServerState:
    """Start ``prefect server start`` on 127.0.0.1:``port`` in the background and wait until
    its API answers. Raises ServerError if one runs already or it does not come up."""
    current = server_status()
    if current is not None:
        raise ServerError(
            f"a genja-prefect server is already running at {current.url} (pid {current.pid})",
            hint="stop it with: genja-prefect server stop",
        )
    url = f"http://127.0.0.1:{port}"
    if _healthy(url, timeout=1.0):
        raise ServerError(f"another Prefect server already answers at {url}",
                          hint=f"use it: export PREFECT_API_URL={url}/api (or pick a port: --port N)")
    from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV

    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **FAST_INGEST_SERVER_ENV, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another API
    log_path = home / LOG_FILE
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
               "--analytics-off", "--no-background"]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)  # outlives this command and its Ctrl-C
    state = ServerState(child.pid, url, log_path)
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if child.poll() is not None or time.monotonic() > deadline:
            stop_process(child.pid, 10.0, group=True)
            tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-3:]).strip()
            raise ServerError(f"the Prefect server did not start on {url}: {tail or 'no output'}",
                              hint=f"see {log_path}; another port: genja-prefect server start --port N")
        time.sleep(0.2)
    _state_path().write_text(json.dumps({"pid": state.pid, "url": url, "log_file": str(log_path)}), encoding="utf-8")
    return state


def server_stop(timeout: float = 20.0) -> ServerState | None:
    """Stop the background server; returns what was stopped (None if none was running)."""
    state = server_status()
    if state is not None:
        stop_process(state.pid, timeout, group=True)
    _state_path().unlink(missing_ok=True)
    return state


def _profile_api_url() -> str | None:
    """PREFECT_API_URL of the active Prefect profile (``prefect config set ...``), read without
    importing Prefect."""
    from genja_prefect.prefect.api import profile_values

    return profile_values().get("PREFECT_API_URL") or None


def choose_server(background_port: int | None = None) -> str:
    """Decide which Prefect API this process talks to, before Prefect is imported; returns a
    line saying which. Order: ``PREFECT_API_URL`` in the environment, then the active Prefect
    profile's, then a running ``genja-prefect server``, else -- with ``background_port``
    (``prefect.server: background``) -- a ``genja-prefect server`` started now on that port,
    else Prefect's temporary server."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return f"Prefect server {_ui(configured)} (PREFECT_API_URL)"
    configured = _profile_api_url()
    if configured:
        return f"Prefect server {_ui(configured)} (Prefect profile)"
    state = server_status()
    if state is not None:
        os.environ["PREFECT_API_URL"] = state.api_url
        return f"Prefect server {state.url} (genja-prefect server, pid {state.pid})"
    if background_port is not None:
        started = _start_on_first_use(background_port)
        if started is not None:
            os.environ["PREFECT_API_URL"] = started.api_url
            return f"Prefect server {started.url} (genja-prefect server, pid {started.pid}; stop it: genja-prefect server stop)"
    # Prefect's temporary server: no telemetry (its traffic stays on 127.0.0.1, and its
    # heartbeat write raced the first run's writes: 'database is locked').
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return "Prefect's temporary server (start a lasting one with `genja-prefect server start` to skip its start)"


def _start_on_first_use(port: int) -> ServerState | None:
    """``prefect.server: background``: the lasting server, started by the first command that
    needs it (one at a time: concurrent commands wait for it, then use it); ``None`` with a
    WARNING line when it cannot start (the run then uses the temporary server)."""
    import fcntl

    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "genja-prefect-server.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        state = server_status()
        if state is not None:
            return state
        print(f"genja-prefect: starting a lasting Prefect server on 127.0.0.1:{port} (prefect.server: background; "
              "first run only)", file=sys.stderr)
        try:
            return server_start(port=port)
        except ServerError as exc:
            print(f"genja-prefect: WARNING: {exc}; this run uses Prefect's temporary server ({exc.hint})", file=sys.stderr)
            return None


def _ui(api_url: str) -> str:
    return api_url[: -len("/api")] if api_url.rstrip("/").endswith("/api") else api_url


def run_url(flow_run_id: str) -> str | None:
    """The UI address of a flow run when a lasting server is in use (none for the temporary one)."""
    api = os.environ.get("PREFECT_API_URL") or _profile_api_url()
    if not api:
        return None
    return f"{_ui(api.rstrip('/'))}/runs/flow-run/{flow_run_id}"

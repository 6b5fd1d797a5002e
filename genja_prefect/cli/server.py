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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genja_prefect.errors import GenjaError
from genja_prefect.processes import pid_alive, stop_process

STATE_FILE = "genja-prefect-server.json"
LOG_FILE = "genja-prefect-server.log"
USED_FILE = "genja-prefect-server.used"  # touched by each run that records there: the keeper's idle clock


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
    idle_stop_s: float = 0.0  # stops by itself after this long without a run (0: never)

    def describe(self) -> str:
        """``http://127.0.0.1:4200 (pid 42; stops after 60 min without a run; log ...)``."""
        lasts = f"; stops after {self.idle_stop_s / 60:g} min without a run" if self.idle_stop_s > 0 else ""
        return f"{self.url} (pid {self.pid}{lasts}; log {self.log_file})"

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
        state = ServerState(int(data["pid"]), str(data["url"]), Path(data["log_file"]), float(data.get("idle_stop_s", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def server_start(port: int = 4200, timeout: float = 120.0, idle_stop_s: float = 0.0) -> ServerState:
    """Start ``prefect server start`` on 127.0.0.1:``port`` in the background and wait until
    its API answers. With ``idle_stop_s`` > 0 it stops by itself once no run has used it for
    that long and no flow run is running (:mod:`genja_prefect.cli.server_keeper`). Raises
    ServerError if one runs already or it does not come up."""
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
    # The UI asks the browser to call this API; Prefect's default is port 4200 whatever the
    # server's port ("Can't connect to Server API at http://127.0.0.1:4200/api" on any other).
    env["PREFECT_UI_API_URL"] = f"{url}/api"
    log_path = home / LOG_FILE
    server = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
              "--analytics-off", "--no-background"]
    mark_used()
    command = [sys.executable, "-m", "genja_prefect.cli.server_keeper", "--url", url, "--state", str(_state_path()),
               "--stamp", str(home / USED_FILE), "--idle-stop", str(idle_stop_s), "--", *server]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)  # outlives this command and its Ctrl-C
    state = ServerState(child.pid, url, log_path, idle_stop_s)
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if child.poll() is not None or time.monotonic() > deadline:
            stop_process(child.pid, 10.0, group=True)
            tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-3:]).strip()
            raise ServerError(f"the Prefect server did not start on {url}: {tail or 'no output'}",
                              hint=f"see {log_path}; another port: genja-prefect server start --port N")
        time.sleep(0.2)
    record = {"pid": state.pid, "url": url, "log_file": str(log_path), "idle_stop_s": idle_stop_s}
    _state_path().write_text(json.dumps(record), encoding="utf-8")
    mark_used()  # the idle clock starts when the server is up, not when its start began
    return state


def mark_used() -> None:
    """Note that a run records into the background server now (resets its idle clock)."""
    path = prefect_home() / USED_FILE
    try:
        path.touch()
    except OSError:
        pass  # a read-only home only loses the idle stop's precision


@contextmanager
def in_use() -> Iterator[ServerState | None]:
    """While a CLI run records into the lasting server, keep its idle clock at zero: the stamp
    is touched now, every fifth of the idle time (1-60 s) while the run goes on, and at its end,
    so the idle time counts from the end of the run. Without this, a run whose flow run was not
    yet created (a loaded machine, a slow import) looked like no use to the keeper, which
    stopped the server under it. Yields the server, or None when none is running."""
    state = server_status()
    if state is None or state.idle_stop_s <= 0:
        yield state
        return
    done = threading.Event()

    def beat() -> None:
        while not done.wait(min(60.0, max(1.0, state.idle_stop_s / 5))):
            mark_used()

    mark_used()
    beater = threading.Thread(target=beat, name="genja-prefect-server-in-use", daemon=True)
    beater.start()
    try:
        yield state
    finally:
        done.set()
        beater.join(timeout=5)
        mark_used()


def server_stop(timeout: float = 30.0) -> ServerState | None:
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


def interactive() -> bool:
    """Whether an engineer runs this command at a terminal: stdin and stderr are terminals and
    no ``CI`` variable is set. Cron, CI, scripts and deployment workers are not interactive."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def server_mode(setting: str) -> str:
    """``prefect.server`` resolved: ``auto`` is ``background`` at a terminal (the next ad-hoc
    run skips the server start, and the UI stays up to look at the run) and ``temporary``
    elsewhere (cron, CI, scripts: nothing is left running after the command)."""
    if setting == "auto":
        return "background" if interactive() else "temporary"
    return setting


def choose_server(mode: str = "temporary", port: int = 4200, idle_stop_s: float = 0.0) -> str:
    """Decide which Prefect API this process talks to, before Prefect is imported; returns a
    line saying which. Order: ``PREFECT_API_URL`` in the environment, then the active Prefect
    profile's, then a running ``genja-prefect server``, else -- with ``mode`` ``background``
    (or ``auto`` at a terminal: :func:`server_mode`) -- a ``genja-prefect server`` started now
    on ``port`` that stops after ``idle_stop_s`` without use, else Prefect's temporary server."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return f"Prefect server {_ui(configured)} (PREFECT_API_URL)"
    configured = _profile_api_url()
    if configured:
        return f"Prefect server {_ui(configured)} (Prefect profile)"
    state = server_status()
    if state is not None:
        os.environ["PREFECT_API_URL"] = state.api_url
        mark_used()
        return f"Prefect server {state.url} (genja-prefect server, pid {state.pid})"
    if server_mode(mode) == "background":
        started = _start_on_first_use(port, idle_stop_s)
        if started is not None:
            os.environ["PREFECT_API_URL"] = started.api_url
            return f"Prefect server {started.url} (genja-prefect server, pid {started.pid}; stop it: genja-prefect server stop)"
    # Prefect's temporary server: no telemetry (its traffic stays on 127.0.0.1, and its
    # heartbeat write raced the first run's writes: 'database is locked').
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return "Prefect's temporary server (start a lasting one with `genja-prefect server start` to skip its start)"


def _start_on_first_use(port: int, idle_stop_s: float) -> ServerState | None:
    """The lasting server, started by the first command that needs it (one at a time:
    concurrent commands wait for it, then use it); ``None`` with a WARNING line when it cannot
    start (the run then uses the temporary server)."""
    import fcntl

    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "genja-prefect-server.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        state = server_status()
        if state is not None:
            mark_used()
            return state
        lasts = f"it stops after {idle_stop_s / 60:g} min without a run" if idle_stop_s > 0 else "it keeps running"
        print(f"genja-prefect: starting a lasting Prefect server on 127.0.0.1:{port} for this and later runs "
              f"(first run only; {lasts}; genja-prefect server stop ends it; prefect.server: temporary "
              "starts none)", file=sys.stderr, flush=True)
        try:
            return server_start(port=port, idle_stop_s=idle_stop_s)
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

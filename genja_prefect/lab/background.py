"""A lab running in the background, for the quick start: ``lab_up``, ``lab_status``, ``lab_down``.

``lab_up`` starts ``python -m genja_prefect.lab serve --dir DIR ...`` as a detached process. That
process starts a :class:`~genja_prefect.lab.lab.Lab`, writes the inventory into ``DIR``, then
``DIR/lab-state.json`` (pid and ports, never the password), and runs until SIGTERM or SIGINT.
Its output goes to ``DIR/lab.log``. The password reaches it through the environment
(``GENJA_LAB_PASSWORD``), not the command line, where ``ps`` would show it. Example::

    status = lab_up("lab", ios=2, eos=1, netconf=1, http=1)
    print(status.hosts)              # genja-prefect can now use lab/settings.yaml
    lab_down("lab")
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genja_prefect.lab.errors import LabStartError, LabStateError
from genja_prefect.lab.lab_inventory import INVENTORY_FILES, LabHost
from genja_prefect.lab.ports import wait_for_ports
from genja_prefect.processes import pid_alive, stop_process

log = logging.getLogger(__name__)

STATE_FILE = "lab-state.json"
LOG_FILE = "lab.log"
PASSWORD_ENV = "GENJA_LAB_PASSWORD"
COUNT_NAMES = ("ios", "eos", "junos", "nxos", "asa", "sim", "sim_eos", "sim_nxos", "netconf", "http")
#: Above this many hosts, lab_up probes a sample of the simulated devices (see _probe_sample).
PROBE_LIMIT = 500
#: What a background lab runs when no counts are given.
DEFAULT_COUNTS = {"ios": 1, "eos": 1, "junos": 1, "sim": 2, "netconf": 1, "http": 1}

# Children started by lab_up in this process, so lab_down can reap them (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class LabStatus:
    """What a background lab in ``directory`` is doing."""

    directory: Path
    running: bool
    pid: int | None = None
    hosts: list[LabHost] = field(default_factory=list)
    log_file: Path | None = None

    def describe(self) -> str:
        """A short human-readable summary (for the CLI)."""
        if not self.running:
            return f"no lab running in {self.directory}"
        lines = [f"lab running in {self.directory} (pid {self.pid}), {len(self.hosts)} hosts:"]
        lines += [f"  {h.name:<12} {h.kind:<9} {h.platform:<9} 127.0.0.1:{h.port}" for h in self.hosts]
        return "\n".join(lines)


def _state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def _read_state(directory: Path) -> dict[str, Any] | None:
    path = _state_path(directory)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return state
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise LabStateError(f"{path}: unreadable lab state ({exc}); delete it if no lab is running") from exc


def _reap(pid: int) -> bool:
    """True if ``pid`` has exited (reaping it if it is our child)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        _children.pop(pid, None)
        return True
    return not pid_alive(pid)


def _running(pid: int) -> bool:
    return not _reap(pid)


def _is_lab_process(pid: int) -> bool:
    """Guard against a recycled pid: is ``pid`` really a ``genja_prefect.lab serve``?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not _reap(pid)  # no /proc (not Linux): trust the state file
    return b"genja_prefect.lab" in cmdline and b"serve" in cmdline


def lab_status(directory: str | os.PathLike[str]) -> LabStatus:
    """Report the background lab in ``directory`` (``running=False`` if there is none)."""
    folder = Path(directory).resolve()
    state = _read_state(folder)
    if state is None:
        return LabStatus(folder, running=False)
    pid = int(state["pid"])
    running = not _reap(pid) and _is_lab_process(pid)
    hosts = [LabHost(**h) for h in state.get("hosts", [])]
    return LabStatus(folder, running=running, pid=pid, hosts=hosts if running else [], log_file=folder / LOG_FILE)


def lab_up(
    directory: str | os.PathLike[str],
    *,
    username: str = "admin",
    password: str = "admin",
    timeout: float = 120.0,
    **counts: int,
) -> LabStatus:
    """Start a lab in the background and wait until its inventory is written and every
    device accepts TCP connections (for labs over 500 hosts: every fakenos, NETCONF and
    RESTCONF host and a spread sample of the simulated ones).

    ``counts`` are :class:`~genja_prefect.lab.lab.Lab` counts (``ios=2, netconf=1, ...``);
    with none given: one each of ios, eos and junos (fakenos), two simulated ios devices,
    one NETCONF and one RESTCONF server. Raises :class:`LabStateError` if a lab already runs
    in ``directory`` and :class:`LabStartError` (with the end of ``lab.log``) if it fails.
    """
    unknown = set(counts) - set(COUNT_NAMES)
    if unknown:
        raise ValueError(f"unknown lab count(s) {sorted(unknown)}; use {', '.join(COUNT_NAMES)}")
    if not counts:
        counts = dict(DEFAULT_COUNTS)
    folder = Path(directory).resolve()
    current = lab_status(folder)
    if current.running:
        raise LabStateError(f"a lab is already running in {folder} (pid {current.pid}); stop it first: genja-prefect lab down --dir {directory}")
    folder.mkdir(parents=True, exist_ok=True)
    _state_path(folder).unlink(missing_ok=True)  # stale: its process is gone
    command = [sys.executable, "-m", "genja_prefect.lab", "serve", "--dir", str(folder), "--username", username]
    for name, value in counts.items():
        command += [f"--{name.replace('_', '-')}", str(int(value))]
    log_path = folder / LOG_FILE
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survive the caller's Ctrl-C and terminal
            env=_child_env(password),
        )
    _children[child.pid] = child
    try:
        return _wait_ready(folder, child, timeout)
    except BaseException:
        stop_process(child.pid, 10.0, alive=_running)
        raise


def _child_env(password: str) -> dict[str, str]:
    """The lab process's environment: ours, the password, and this checkout on PYTHONPATH
    (so a source tree that is not pip-installed works too)."""
    source_root = str(Path(__file__).resolve().parents[2])
    python_path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        PASSWORD_ENV: password,
        "PYTHONPATH": source_root + (os.pathsep + python_path if python_path else ""),
    }


def _wait_ready(folder: Path, child: subprocess.Popen[bytes], timeout: float) -> LabStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _children.pop(child.pid, None)
            raise LabStartError(
                f"the lab process exited with code {child.returncode} before it was ready; "
                f"end of {folder / LOG_FILE}:\n{_log_tail(folder / LOG_FILE)}"
            )
        state = _read_state(folder)
        if state is not None and state.get("pid") == child.pid and all((folder / f).exists() for f in INVENTORY_FILES):
            hosts = [LabHost(**h) for h in state["hosts"]]
            remaining = max(1.0, deadline - time.monotonic())
            probed = _probe_sample(hosts)
            # fakenos (paramiko) logs a bare TCP probe as a failed handshake; the others do not.
            ssh_ports = [h.port for h in probed if h.kind == "fakenos"]
            silent = wait_for_ports(ssh_ports, remaining, ssh=True)
            silent += wait_for_ports([h.port for h in probed if h.kind != "fakenos"], remaining)
            if silent:
                raise LabStartError(f"lab ports {silent} do not accept connections; see {folder / LOG_FILE}")
            return LabStatus(folder, running=True, pid=child.pid, hosts=hosts, log_file=folder / LOG_FILE)
        time.sleep(0.05)
    raise LabStartError(f"the lab in {folder} was not ready after {timeout} s; see {folder / LOG_FILE}")


def _probe_sample(hosts: list[LabHost], limit: int = PROBE_LIMIT) -> list[LabHost]:
    """Every host of a small lab; for a big one, every fakenos/NETCONF/RESTCONF host and an
    evenly spread sample of the simulated devices. The lab process writes its state file only
    after every listener is up, so the probe is a cross-check, and probing 10,000 simulated
    devices one by one would cost the lab's single event loop a minute on 2 cores."""
    simulated = [h for h in hosts if h.kind == "sim"]
    others = [h for h in hosts if h.kind != "sim"]
    if len(hosts) <= limit or not simulated:
        return hosts
    step = max(1, len(simulated) // max(1, limit - len(others)))
    return others + simulated[::step] + simulated[-1:]


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def lab_down(directory: str | os.PathLike[str], timeout: float = 20.0) -> LabStatus:
    """Stop the background lab in ``directory`` (SIGTERM, wait, SIGKILL after ``timeout``)
    and remove its state file. The inventory files stay (with stale ports). Stopping a lab
    that is not running only removes a stale state file."""
    folder = Path(directory).resolve()
    status = lab_status(folder)
    if status.running and status.pid is not None:
        if not stop_process(status.pid, timeout, alive=_running):
            log.warning("lab pid %s ignored SIGTERM for %s s and was killed", status.pid, timeout)
    _state_path(folder).unlink(missing_ok=True)
    return LabStatus(folder, running=False, log_file=folder / LOG_FILE)

"""Processes this project starts and stops by pid (background server, background lab, a spool
file's claimant): whether one still runs, and stopping one politely.

Example::

    from genja_prefect.processes import pid_alive, stop_process

    if pid_alive(pid):
        stop_process(pid, timeout=20.0, group=True)   # SIGTERM its group, SIGKILL after 20 s
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["pid_alive", "stop_process"]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs. An exited child of this process is reaped; a zombie of
    anyone else's counts as gone (it still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, and running
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass  # not our child
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(pid, 0) answered


def stop_process(
    pid: int, timeout: float, *, group: bool = False, alive: Callable[[int], bool] = pid_alive, kill_wait: float = 10.0
) -> bool:
    """SIGTERM ``pid`` (its process group with ``group``), wait up to ``timeout`` for it to end,
    then SIGKILL and wait up to ``kill_wait`` more. True if it ended on SIGTERM. ``alive``: how
    to tell it still runs (a caller holding its ``Popen`` polls that)."""
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        alive(pid)  # reaps it if it is our exited child
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    try:
        send(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + kill_wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return False

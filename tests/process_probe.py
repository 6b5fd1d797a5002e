"""What this test process holds (OS threads, file descriptors, child processes) and a bounded
poll: shared by the plugin and reliability suites' leak checks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def os_threads() -> int:
    """OS threads of this process (libscrapli's threads are invisible to ``threading``)."""
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> list[str]:
    """Command lines of this process's live children (scrapli's bin transport runs ``ssh``)."""
    children = []
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if fields[1] == me and fields[0] != "Z":
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    children.append(cmd.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except (OSError, IndexError):
            continue
    return children


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()

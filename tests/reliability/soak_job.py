"""The job side of the soak tests, run as a child process: ``python soak_job.py SPEC.json``.

The devices stay in the test process (their fault knobs and connection counts are read
there); the job runs here, so its sockets, ssh children and file descriptors are its own.
SPEC: ``{"hosts": {...}, "settings": {...}, "tasks": N, "ports": [...], "pad_fds": 0}``.

After the run it prints one JSON line -- the result trees and what it still holds (ssh
children, connections to the device ports) -- then waits for a line on stdin before exiting,
so the test can count the devices' own live connections while this process is still alive.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any


def _children() -> int:
    me, count = str(os.getpid()), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                count += fields[1] == me and fields[0] != "Z"
            except (OSError, IndexError):
                continue
    return count


def _tcp_to(ports: set[int]) -> int:
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
                count += remote in ports and local not in ports and fields[3] in ("01", "02", "08")
    return count


def main(spec_path: str) -> None:
    with open(spec_path) as handle:
        spec = json.load(handle)
    # libscrapli warns once per session on these devices (enable asks no password)
    logging.getLogger("scrapli").setLevel(logging.ERROR)
    padding = [os.open(os.devnull, os.O_RDONLY) for _ in range(spec.get("pad_fds", 0))]

    from genja_prefect import Genja, PluginManager
    from genja_prefect.task import TaskSuccessResult, task

    def root(index: int) -> Any:
        @task(name=f"{spec.get('task_prefix', 'soak')}_{index}", connection_plugin_name="scrapli")
        class ShowVersion:
            def start(self, task: Any, host: Any, context: Any) -> TaskSuccessResult:
                output = context.connection().execute_command("show version")
                return TaskSuccessResult(summary=output.splitlines()[0])

        return ShowVersion

    manager = PluginManager()
    manager.plugins("connection")
    genja = Genja.from_hosts(spec["hosts"], settings=spec["settings"], plugin_manager=manager)
    results = genja.run_tasks([root(i) for i in range(1, spec["tasks"] + 1)])
    for fd in padding:
        os.close(fd)
    report = {
        "trees": results.to_dict(),
        "children": _children(),
        "tcp": _tcp_to(set(spec["ports"])),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()


if __name__ == "__main__":
    main(sys.argv[1])

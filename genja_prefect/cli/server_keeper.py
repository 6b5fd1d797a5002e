"""The process that keeps a ``genja-prefect server``: it runs ``prefect server start`` as its
child, removes the state file when that child ends, and -- with ``--idle-stop`` -- stops the
server by itself once no CLI run has used it for that long and no flow run is running.

Why a keeper: a server started on first use from a terminal (``prefect.server: auto`` or
``background``) is a process left running on purpose, but it must not stay forever after the
engineer is done. ``genja-prefect server stop`` (SIGTERM to the keeper's process group) still
ends it at once; the keeper then waits for the server to exit, so "stopped" means gone.

Run as ``python -m genja_prefect.cli.server_keeper --url URL --state FILE --stamp FILE
--idle-stop SECONDS -- prefect server start ...``. It imports neither Prefect nor the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

# A flow run still at work keeps the server up: running or cancelling and started within
# this window, or pending and due within it. A run whose process was killed stays Running in
# the database for ever; it must not keep an idle server up for more than a day.
STALE_AFTER_S = 24 * 3600.0
FINAL_STATES = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]


def idle_since(stamp: Path, started: float) -> float:
    """Wall-clock time of the server's last use: the stamp file's mtime (each CLI run that
    records into the server touches it), or the keeper's own start."""
    try:
        return max(stamp.stat().st_mtime, started)
    except OSError:
        return started


def busy(url: str, timeout: float = 10.0, ended_within: float = 0.0) -> bool | None:
    """Whether a flow run on the server is at work (a deployment run, a long job): running or
    cancelling and started in the last :data:`STALE_AFTER_S`, or pending and due in it -- or
    ended in the last ``ended_within`` seconds (a run that ended a moment ago used the server
    as much as one still running). None when the server does not answer (starting, or too
    loaded to answer within ``timeout``): the keeper asks again later."""
    now = time.time()
    since = datetime.fromtimestamp(now - STALE_AFTER_S, UTC).isoformat()
    queries: list[dict[str, Any]] = [
        {"state": {"type": {"any_": ["RUNNING", "CANCELLING"]}}, "start_time": {"after_": since}},
        {"state": {"type": {"any_": ["PENDING"]}}, "expected_start_time": {"after_": since}},
    ]
    if ended_within > 0:
        ended = datetime.fromtimestamp(now - ended_within, UTC).isoformat()
        queries.append({"state": {"type": {"any_": FINAL_STATES}}, "end_time": {"after_": ended}})
    for query in queries:
        request = urllib.request.Request(f"{url}/api/flow_runs/count", data=json.dumps({"flow_runs": query}).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - loopback URL we started
                if int(json.loads(reply.read())) > 0:
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            return None
    return False


def poll_interval(idle_stop_s: float) -> float:
    """How often to look: often enough that the stop comes within ~10 % of the idle time."""
    return min(30.0, max(0.5, idle_stop_s / 10))


def keep(command: list[str], url: str, state: Path, stamp: Path, idle_stop_s: float) -> int:
    """Run ``command`` (the server) until it exits, SIGTERM arrives, or it has been idle for
    ``idle_stop_s`` seconds (0: never); returns the exit code to leave with."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.time()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)  # same process group: a group stop reaches it
    reason = ""
    last_busy = started  # when a flow run was last seen at work: the idle clock starts again after it
    unanswered_since: float | None = None  # the first of the questions in a row it did not answer
    answered = False  # until the server first answers it is starting, however long that takes
    try:
        while child.poll() is None and not stop.is_set():
            stop.wait(poll_interval(idle_stop_s) if idle_stop_s > 0 else 5.0)
            if idle_stop_s <= 0 or time.time() - max(idle_since(stamp, started), last_busy) < idle_stop_s:
                continue
            answer = busy(url, ended_within=idle_stop_s)
            now = time.time()
            if answer is None and not answered:
                continue  # still starting (a loaded machine): whoever started it stops it if it never answers
            answered = True
            if answer:
                # A flow run at work, or one that ended within the idle time (a deployment
                # run between two looks), is use: the server stops idle_stop_s after the last
                # run was seen at work or ended.
                last_busy, unanswered_since = now, None
                continue
            if answer is None:
                unanswered_since = unanswered_since or now
                if now - unanswered_since < idle_stop_s:
                    continue  # too loaded to answer now: one unanswered question is not idleness
                reason = f"it did not answer for {idle_stop_s / 60:g} min and no run used it"
            else:
                reason = f"no run used it for {idle_stop_s / 60:g} min"
            break
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        _forget(state)
    if reason:
        print(f"genja-prefect server keeper: stopped the server at {url}: {reason}", flush=True)
    return 0 if reason or stop.is_set() else (child.returncode or 0)


def _forget(state: Path) -> None:
    """Remove the state file if it still names this keeper (a newer server may own it)."""
    try:
        if int(json.loads(state.read_text(encoding="utf-8"))["pid"]) == os.getpid():
            state.unlink(missing_ok=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genja_prefect.cli.server_keeper")
    parser.add_argument("--url", required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--stamp", type=Path, required=True)
    parser.add_argument("--idle-stop", type=float, default=0.0, help="seconds without use before stopping (0: never)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("the server command is missing (after --)")
    return keep(command, args.url, args.state, args.stamp, args.idle_stop)


if __name__ == "__main__":
    sys.exit(main())

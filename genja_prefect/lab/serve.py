"""``python -m genja_prefect.lab``: run a lab in the foreground (``serve``), or manage a
background one (``up``, ``status``, ``down``).

``serve`` starts the lab, writes the inventory and the state file into ``--dir``, and runs
until SIGTERM or SIGINT, then stops every device and removes the state file. The password
comes from the ``GENJA_LAB_PASSWORD`` environment variable (default ``admin``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from genja_prefect.lab.background import (
    COUNT_NAMES,
    DEFAULT_COUNTS,
    LOG_FILE,
    PASSWORD_ENV,
    STATE_FILE,
    lab_down,
    lab_status,
    lab_up,
)
from genja_prefect.lab.errors import LabError
from genja_prefect.lab.lab import Lab
from genja_prefect.lab.lab_inventory import atomic_write

log = logging.getLogger(__name__)


def serve(directory: Path, counts: dict[str, int], username: str, password: str) -> None:
    """Run a lab until SIGTERM/SIGINT (blocking)."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        log.info("signal %s: stopping the lab", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    state_path = directory / STATE_FILE
    started = time.monotonic()
    with Lab(username=username, password=password, directory=directory, **counts) as lab:
        state = {
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "counts": counts,
            "hosts": [h.to_dict() for h in lab.hosts],
        }
        # Written last: its presence tells lab_up the inventory is complete.
        atomic_write(state_path, json.dumps(state, indent=2) + "\n")
        log.info(
            "lab ready in %.1f s: %d hosts, inventory in %s", time.monotonic() - started, len(lab.hosts), directory
        )
        try:
            while not stop.wait(0.5):
                pass
        finally:
            state_path.unlink(missing_ok=True)
    log.info("lab stopped")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genja_prefect.lab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run a lab in the foreground until SIGTERM/SIGINT"),
        ("up", "start a lab in the background and wait until it is ready"),
        ("status", "show the background lab"),
        ("down", "stop the background lab"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--dir", required=True, type=Path, help="inventory and state directory")
        if name in ("serve", "up"):
            cmd.add_argument("--username", default="admin")
            for count in COUNT_NAMES:
                cmd.add_argument(f"--{count.replace('_', '-')}", type=int, default=None, metavar="N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncssh logs every connection at INFO; a lab with thousands of devices drowns in that.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    password = os.environ.get(PASSWORD_ENV, "admin")
    try:
        if args.command in ("serve", "up"):
            counts = {c: getattr(args, c) for c in COUNT_NAMES if getattr(args, c) is not None}
            counts = counts or dict(DEFAULT_COUNTS)
            if args.command == "serve":
                serve(args.dir.resolve(), counts, args.username, password)
            else:
                print(lab_up(args.dir, username=args.username, password=password, **counts).describe())
        elif args.command == "status":
            print(lab_status(args.dir).describe())
        else:
            lab_down(args.dir)
            print(f"lab in {args.dir} stopped (log: {args.dir / LOG_FILE})")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

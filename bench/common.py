"""Shared helpers for the benchmarks: timing, isolated Prefect, result tables."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def isolate_prefect() -> str:
    """Point Prefect at a fresh home (ephemeral SQLite API) unless the caller chose a server."""
    home = tempfile.mkdtemp(prefix="genja-bench-prefect-")
    os.environ.setdefault("PREFECT_HOME", home)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return os.environ["PREFECT_HOME"]


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    cpu = time.process_time()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - start
        out["cpu"] = time.process_time() - cpu


def best_of(n: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``n`` runs (wall seconds): the least disturbed by the rest of the machine."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def machine() -> str:
    versions = {}
    for name in ("prefect", "nornir", "scrapli", "pydantic"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is just not listed
            pass
    cpus = os.cpu_count()
    return (
        f"python {platform.python_version()}, {cpus} cores, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f", git {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}"
    )


def hosts(n: int) -> dict[str, dict[str, Any]]:
    return {
        f"h{i:06d}": {"hostname": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}", "platform": "ios", "groups": ["g1"]}
        for i in range(n)
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)

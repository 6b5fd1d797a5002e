"""Per-host task runs per second on ``prefect server start`` backed by PostgreSQL vs SQLite.

    python -m bench.postgres_ingest                                   # 1,000 / 5,000 / 20,000 hosts
    python -m bench.postgres_ingest --sizes 1000 5000 --databases postgresql
    python -m bench.postgres_ingest --sizes 5000 --databases postgresql --api-workers 2 --services 2

For each database, one ``prefect server start`` on 127.0.0.1 with the fast-ingest settings
(``FAST_INGEST_SERVER_ENV``, as docs/prefect.md recommends for production): SQLite is
Prefect's default file in a fresh PREFECT_HOME; PostgreSQL is a cluster of its own
(tests/flows/postgres.py) with PostgreSQL's own defaults (fsync and synchronous commit on), as
a production server runs it. Debian's ``postgresql`` package must be installed.

Each size is the per-host scenario of ``bench.engine_costs``: ``run_task`` of a trivial task
with ``prefect.host_runs: per_host`` (one recorded task run per host), 50 workers, in this
process against that server. Columns: ``wall`` (the whole call, flow run included) and its
runs/s; ``visible`` until the API lists every host's task run in its final state (what the
UI shows) and its runs/s; the CPU the API server's processes and the database's processes
(PostgreSQL's postmaster and backends; SQLite runs inside the server) used per host until
the server had also stored the run's events.

``--api-workers N`` (N > 1, PostgreSQL only): Prefect's multi-worker server, N API processes
(``prefect server start --workers N``) plus ``--services`` processes of ``prefect server
services start`` (the task-run recorder and event persister among them), with Redis as the
event broker (docs/prefect.md, "A production server"). Needs ``pip install prefect-redis``
and a ``redis-server`` binary (Debian's ``redis-server``); this benchmark starts its own
Redis on a free loopback port, without persistence. "server CPU" then counts the API and
services processes together.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
import time
from pathlib import Path
from typing import Any

from bench.common import isolate_prefect, log, table
from bench.engine_costs import _trivial, per_host_rate


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of process ``root`` and all its live descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def profile_summary(collapsed: Path, top: int = 12) -> str:
    """Where a py-spy ``--format raw`` profile's samples were: the innermost function, and the
    package that function is in (sqlalchemy, asyncpg, prefect, ...), as shares of all samples."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        # a frame is "function (path/to/module.py:123)"
        match = re.fullmatch(r"(.*?) \((.*?)(?::\d+)?\)", stack.split(";")[-1])
        function, path = match.groups() if match else (stack.split(";")[-1], "?")
        total += int(count)
        own[f"{function} ({'/'.join(Path(path).parts[-2:])})"] += int(count)
        parts = Path(path).parts
        package = parts[parts.index("site-packages") + 1] if "site-packages" in parts else (
            "stdlib " + parts[-1] if path.startswith("/") else path)
        packages[package] += int(count)
    lines = [f"{total} samples"]
    for title, counter in (("by package", packages), ("innermost function", own)):
        lines.append(f"  {title}:")
        lines += [f"    {n / total:6.1%}  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


@contextmanager
def redis_broker() -> Iterator[dict[str, str]]:
    """A ``redis-server`` of its own on a free loopback port (no persistence), and the Prefect
    settings that make it the server's event broker, cache, ordering and lease storage."""
    import importlib.util

    from genja_prefect.ports import free_listen_port
    from tests.flows.prefect_server import stop_process

    binary = shutil.which("redis-server")
    if binary is None or importlib.util.find_spec("prefect_redis") is None:
        raise RuntimeError("several API workers need Redis: pip install prefect-redis; apt-get install redis-server")
    port = free_listen_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield {
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": str(port),
        }
    finally:
        stop_process(proc)


def measure(database: str, sizes: list[int], workers: int, profile: float = 0.0, modes: tuple[str, ...] = ("per_host",),
            api_workers: int = 1, services: int = 1) -> list[list[Any]]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import genja_prefect as genja_lib
    from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV
    from tests.flows.prefect_server import prefect_server

    rows: list[list[Any]] = []
    label = database if api_workers == 1 else f"{database}, {api_workers} API + {services} services"
    with tempfile.TemporaryDirectory(prefix="genja-bench-ingest-") as home, ExitStack() as stack:
        env = dict(FAST_INGEST_SERVER_ENV)
        if api_workers > 1:
            if database != "postgresql":
                raise RuntimeError("Prefect runs several API workers on PostgreSQL only")
            env.update(stack.enter_context(redis_broker()))
        log(f"[{database}] starting prefect server start" + (f" --workers {api_workers} and {services} services process(es)" if api_workers > 1 else ""))
        with prefect_server(Path(home) / "home", extra_env=env, database=database,  # type: ignore[arg-type]
                            durable_database=True, api_workers=api_workers, services=services) as server:
            server_pid = server.processes[0].pid
            server_pids = [proc.pid for proc in server.processes]
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                genja_lib.Genja.from_hosts({"w": {}}).run_task(_trivial())  # warm up client and server
                spy = None
                if profile:
                    out = Path(tempfile.mkdtemp(prefix="genja-bench-profile-")) / f"{database}.txt"
                    # py-spy (pip install py-spy): the server's processes while the first size ingests
                    spy = subprocess.Popen([shutil.which("py-spy") or "py-spy", "record", "--subprocesses", "--nonblocking",
                                            "-r", "50", "-d", str(int(profile)), "-f", "raw", "-o", str(out),
                                            "-p", str(server_pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for n in sizes:
                    for mode in modes:
                        cpu = (sum(map(tree_cpu, server_pids)), tree_cpu(server.postgres.pid) if server.postgres else 0.0)
                        try:
                            (row,) = per_host_rate([n], workers, host_runs=mode)
                        except Exception as exc:  # noqa: BLE001 - one size failing still reports the others
                            rows.append([label, mode, n, workers, "-", "-", "-", "-", "-", "-", "-", f"failed: {exc}"[:120]])
                            continue
                        server_cpu = sum(map(tree_cpu, server_pids)) - cpu[0]
                        db_cpu = tree_cpu(server.postgres.pid) - cpu[1] if server.postgres else None
                        _, _, _, wall, rate, visible, visible_rate, plain = row
                        rows.append([label, mode, n, workers, wall, rate, visible, visible_rate, plain,
                                     server_cpu / n * 1000, "-" if db_cpu is None else db_cpu / n * 1000, ""])
                        log(f"[{database}] {mode} {n} hosts: {rate:.0f} hosts/s wall, {visible_rate:.0f} visible")
                if spy is not None:
                    spy.wait(timeout=profile + 60)
                    print(f"[{database}] server profile, py-spy, first {profile:.0f} s of the first size:")
                    print(profile_summary(out) if out.exists() else "(py-spy wrote nothing)")
                    print(f"[{database}] the whole profile (collapsed stacks): {out}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--modes", nargs="+", choices=["per_host", "batch"], default=["per_host"],
                        help="prefect.host_runs to measure at each size (batch: where batch_threshold should be)")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="API processes (prefect server start --workers N; N > 1: PostgreSQL and Redis)")
    parser.add_argument("--services", type=int, default=1,
                        help="with --api-workers > 1: processes of `prefect server services start`")
    parser.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                        help="py-spy the API server for SECONDS from the first size on (pip install py-spy)")
    args = parser.parse_args()
    isolate_prefect()  # this process's own PREFECT_HOME, before Prefect is imported
    start = time.perf_counter()
    rows: list[list[Any]] = []
    for database in args.databases:
        try:
            rows += measure(database, args.sizes, args.workers, args.profile, tuple(args.modes), args.api_workers, args.services)
        except Exception as exc:  # noqa: BLE001 - e.g. PostgreSQL not installed: say so in the table
            rows.append([database, "-", "-", args.workers, "-", "-", "-", "-", "-", "-", "-", f"failed: {exc}"[:200]])
    headers = ["database", "host_runs", "hosts", "workers", "wall s", "hosts/s", "visible s", "visible hosts/s",
               "no Prefect s", "server CPU ms/host", "db CPU ms/host", "note"]
    print(table(headers, rows))
    print(f"load average {os.getloadavg()[0]:.1f} at the end; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()

"""Per-host Prefect task runs per second: HostRunRecorder vs a plain Prefect @task per host.

    python bench/prefect_runs_bench.py                      # both server configs, all sizes
    python bench/prefect_runs_bench.py --server fast --sizes 100 1000 5000 --no-subflows

Every scenario is one flow run; each server config gets its own ephemeral Prefect API (SQLite,
subprocess server, fresh PREFECT_HOME). Host work = ``--host-ms`` of sleep (a device round trip) in a pool of
``--workers`` threads, and PREFECT_LOGGING_LEVEL=WARNING (no per-run console lines):

- ``threads``: the anchor, host work in the pool and no Prefect bookkeeping at all;
- ``recorder``: HostRunRecorder.start/finish around each host (``recorder-2ev``: without the
  Pending state);
- ``sync @task``: a plain sync Prefect task per host, called in the pool's threads;
- ``async @task``: a plain async Prefect task per host (``asyncio.gather``, at most
  ``--workers`` at once). The two @task variants skip a size when the previous size, scaled
  up, would take more than ``--slow-limit`` seconds (60) client-side or until visible.

Columns: ``client s`` until every host's work and bookkeeping returned in the flow, ``runs/s``
from that, ``CPU ms/host`` of this process (all threads), ``handed s`` until all events were
posted, ``visible s`` until the API lists every run in a final state (from the start), ``stored s``
until the event persister stored all their events (the UI's event feed; the next scenario starts
after that), and the API server's own CPU per host. ``--server fast`` starts the server with
``FAST_INGEST_SERVER_ENV``; ``default`` with Prefect's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _server_cpu() -> float:
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer._instances.get(None)
    if server is None or server.server_process is None:
        return float("nan")
    fields = Path(f"/proc/{server.server_process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_visible(flow_run_id: Any, n: int, timeout: float) -> float | None:
    from prefect.client.orchestration import get_client

    body = {
        "flow_runs": {"id": {"any_": [str(flow_run_id)]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}},
    }
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while int(client.request("POST", "/task_runs/count", json=body).json()) < n:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
    return time.perf_counter()


def _wait_stored(flow_run_id: Any, expected: int, timeout: float) -> float | None:
    """Until the event persister stored every task-run event of the flow run (the UI's event feed)."""
    from prefect.client.orchestration import get_client

    body = {
        "filter": {
            "occurred": {"since": "2000-01-01T00:00:00Z"},
            "event": {"prefix": ["prefect.task-run."]},
            "related": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        },
        "limit": 1,
    }
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while int(client.request("POST", "/events/filter", json=body).json()["total"]) < expected:
            if time.monotonic() > deadline:
                return None
            time.sleep(1.0)
    return time.perf_counter()


def run_scenario(kind: str, n: int, workers: int, host_s: float, visible_timeout: float) -> dict[str, Any]:
    import asyncio
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from prefect import flow, task
    from prefect.context import FlowRunContext
    from prefect.events.worker import EventsWorker

    from genja_prefect.prefect.task_runs import HostRunRecorder, flow_heartbeats_disabled

    marks: dict[str, float] = {}

    def pool_run(fn: Any) -> None:
        with ThreadPoolExecutor(workers) as pool:
            # each host in a copy of this thread's context (the flow run's), as the engine does
            futures = [pool.submit(contextvars.copy_context().run, fn, i) for i in range(n)]
            for future in futures:
                future.result()

    @task(name="host")
    def sync_host(i: int) -> int:
        time.sleep(host_s)
        return i

    @task(name="host")
    async def async_host(i: int) -> int:
        await asyncio.sleep(host_s)
        return i

    @flow(name=f"bench-{kind}", persist_result=False)
    def sync_flow() -> Any:
        ctx = FlowRunContext.get()
        assert ctx is not None and ctx.flow_run is not None
        marks["t0"], marks["c0"], marks["s0"] = time.perf_counter(), time.process_time(), _server_cpu()
        if kind == "threads":
            pool_run(lambda i: time.sleep(host_s))
        elif kind.startswith("recorder"):
            recorder = HostRunRecorder(record_pending=kind == "recorder")

            def host(i: int) -> None:
                run = recorder.start(
                    f"collect@h{i}", task_key="bench.collect", tags=[f"host:h{i}", "platform:ios", "group:core"]
                )
                time.sleep(host_s)
                recorder.finish(run, ok=i % 10 != 0, message="ok" if i % 10 else "failed (connection): refused")

            pool_run(host)
            marks["t1"], marks["c1"] = time.perf_counter(), time.process_time()
            recorder.flush(timeout=None)
            marks["handed"] = time.perf_counter()
        else:
            pool_run(lambda i: sync_host.with_options(task_run_name=f"collect@h{i}")(i))
        marks.setdefault("t1", time.perf_counter())
        marks.setdefault("c1", time.process_time())
        return ctx.flow_run.id

    @flow(name=f"bench-{kind}", persist_result=False)
    async def async_flow() -> Any:
        ctx = FlowRunContext.get()
        assert ctx is not None and ctx.flow_run is not None
        gate = asyncio.Semaphore(workers)

        async def one(i: int) -> int:
            async with gate:
                return await async_host.with_options(task_run_name=f"collect@h{i}")(i)

        marks["t0"], marks["c0"], marks["s0"] = time.perf_counter(), time.process_time(), _server_cpu()
        await asyncio.gather(*(one(i) for i in range(n)))
        marks["t1"], marks["c1"] = time.perf_counter(), time.process_time()
        return ctx.flow_run.id

    with flow_heartbeats_disabled():  # no ~1 s heartbeat-thread join at the end of each flow
        flow_run_id = asyncio.run(async_flow()) if kind == "async @task" else sync_flow()
    if kind != "threads":
        EventsWorker.drain_all(timeout=600)  # what Prefect's own engine queued
    handed = marks.get("handed") or time.perf_counter()
    visible = None if kind == "threads" else _wait_visible(flow_run_id, n, visible_timeout)
    # also lets the server drain before the next scenario
    expected_events = n * (2 if kind == "recorder-2ev" else 3)
    stored = None if kind == "threads" else _wait_stored(flow_run_id, expected_events, visible_timeout)
    server = _server_cpu() - marks["s0"]
    client = marks["t1"] - marks["t0"]
    row: dict[str, Any] = {
        "variant": kind,
        "hosts": n,
        "workers": workers,
        "client_s": client,
        "rate": n / client,
        "cpu_ms": (marks["c1"] - marks["c0"]) / n * 1000,
        "handed_s": handed - marks["t0"],
        "visible_s": None if visible is None else visible - marks["t0"],
        "stored_s": None if stored is None else stored - marks["t0"],
        "server_ms": server / n * 1000 if kind != "threads" else None,
    }
    if kind != "threads" and (visible is None or stored is None):
        row["note"] = f"not all {'visible' if visible is None else 'events stored'} after {visible_timeout:.0f} s"
    return row


def subflow_costs(k: int) -> list[dict[str, Any]]:
    """Seconds per subflow run: @flow default, heartbeat off (two ways), or via the client."""
    from prefect import Task, flow
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.states import Completed, Running
    from prefect.utilities.asyncutils import run_coro_as_sync

    from genja_prefect.prefect.task_runs import flow_heartbeats_disabled

    @flow(name="root-task", persist_result=False)
    def root_task(i: int) -> int:
        return i

    def tracking_run(i: int) -> Any:
        # what the engine creates in the parent flow run to link a subflow run to it
        ctx = FlowRunContext.get()
        parent = Task(name="root-task", fn=root_task.fn)
        return run_coro_as_sync(parent.create_run(flow_run_context=ctx, parameters={"i": i}))

    def via_client(i: int) -> None:
        ctx = FlowRunContext.get()
        assert ctx is not None
        client: Any = ctx.client  # the sync client in a sync flow
        parent = tracking_run(i)
        run = client.create_flow_run(root_task, parameters={"i": i}, state=Running(), parent_task_run_id=parent.id)
        client.set_flow_run_state(run.id, Completed(message="ok"))

    variants: list[tuple[str, Any]] = [
        ("@flow subflow, default settings (heartbeat 180 s)", lambda i: root_task(i)),
        ("@flow subflow in temporary_settings(heartbeat=None) per call", None),
        ("@flow subflow in flow_heartbeats_disabled() per call", None),
        ("@flow subflows, flow_heartbeats_disabled() once around all", None),
        ("client: tracking task run + create_flow_run(Running) + Completed", via_client),
    ]

    @flow(name="subflow-bench", persist_result=False)
    def outer() -> list[dict[str, Any]]:
        rows = []
        root_task(-1)  # warm up
        for label, fn in variants:
            t = time.perf_counter()
            if fn is not None:
                for i in range(k):
                    fn(i)
            elif "temporary_settings" in label:
                for i in range(k):
                    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                        root_task(i)
            elif "per call" in label:
                for i in range(k):
                    with flow_heartbeats_disabled():
                        root_task(i)
            else:
                with flow_heartbeats_disabled():
                    for i in range(k):
                        root_task(i)
            rows.append({"subflow": label, "seconds": (time.perf_counter() - t) / k})
        return rows

    return outer()


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV  # noqa: F401  (env set by parent)

    rows: list[dict[str, Any]] = []
    host_s = args.host_ms / 1000
    last: dict[str, dict[str, Any]] = {}
    for n in sorted(args.sizes):
        for kind in ("threads", "recorder", "recorder-2ev", "sync @task", "async @task"):
            if kind == "recorder-2ev" and n < 1000:
                continue
            if kind.endswith("@task"):
                prev = last.get(kind)
                # projected from the previous size, both client-side and until visible
                slowest = max(prev["client_s"], prev["visible_s"] or 0.0) if prev else 0.0
                if n > args.task_cap or (prev and slowest * n / prev["hosts"] > args.slow_limit):
                    rows.append({"variant": kind, "hosts": n, "server": args.server, "skipped": True})
                    continue
            row = run_scenario(kind, n, args.workers, host_s, args.visible_timeout)
            row["server"] = args.server
            rows.append(row)
            last[kind] = row
            print(json.dumps(row), file=sys.stderr, flush=True)
    out: dict[str, Any] = {"rows": rows}
    if args.subflows:
        out["subflows"] = subflow_costs(args.subflow_count)
    print("RESULT " + json.dumps(out, default=str), flush=True)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]], subflows: list[dict[str, Any]]) -> None:
    anchors = {(r["server"], r["hosts"]): r["client_s"] for r in rows if r["variant"] == "threads"}
    head = (
        f"{'server':8} {'variant':13} {'hosts':>6} {'workers':>7} {'client s':>9} {'runs/s':>8} {'CPU ms/host':>11} "
        f"{'handed s':>9} {'visible s':>9} {'visible/s':>9} {'stored s':>8} {'srv CPU ms/host':>15} {'threads s':>9} "
        f"{'ratio':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.get("skipped"):
            print(f"{r['server']:8} {r['variant']:13} {r['hosts']:>6}  skipped: projected past the time limit")
            continue
        anchor = anchors.get((r["server"], r["hosts"]))
        vis = r["visible_s"]
        print(
            f"{r['server']:8} {r['variant']:13} {r['hosts']:>6} {r['workers']:>7} {r['client_s']:>9.2f} {r['rate']:>8.0f} "
            f"{r['cpu_ms']:>11.2f} {r['handed_s']:>9.2f} {_fmt(vis, '9.1f'):>9} "
            f"{_fmt(None if vis is None else r['hosts'] / vis, '9.0f'):>9} {_fmt(r.get('stored_s'), '8.1f'):>8} "
            f"{_fmt(r['server_ms'], '15.1f'):>15} "
            f"{_fmt(anchor, '9.2f'):>9} {_fmt(None if not anchor else r['client_s'] / anchor, '6.2f'):>6}"
            + (f"  ({r['note']})" if r.get("note") else "")
        )
    if subflows:
        print()
        for s in subflows:
            print(f"{s['subflow']:68} {s['seconds'] * 1000:8.0f} ms per subflow run  [{s['server']}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["fast", "default", "both"], default="both")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="default: 100 1000 5000 (fast), 100 1000 (default)"
    )
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--host-ms", type=float, default=20.0)
    parser.add_argument("--task-cap", type=int, default=5000)
    parser.add_argument("--slow-limit", type=float, default=60.0, help="skip a @task size projected past this (s)")
    parser.add_argument("--visible-timeout", type=float, default=600.0)
    parser.add_argument("--no-subflows", dest="subflows", action="store_false")
    parser.add_argument("--subflow-count", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(ROOT))
    from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV

    rows: list[dict[str, Any]] = []
    subflows: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    for server in ["fast", "default"] if args.server == "both" else [args.server]:
        sizes = args.sizes or ([100, 1000, 5000] if server == "fast" else [100, 1000])
        with tempfile.TemporaryDirectory(prefix="genja-prefect-bench-") as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update(
                PREFECT_HOME=home,
                PREFECT_LOGGING_LEVEL="WARNING",
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
                PYTHONPATH=str(ROOT),
            )
            if server == "fast":
                env.update(FAST_INGEST_SERVER_ENV)
            cmd = [sys.executable, __file__, "--child", "--server", server, "--sizes", *map(str, sizes)]
            cmd += ["--workers", str(args.workers), "--host-ms", str(args.host_ms), "--task-cap", str(args.task_cap)]
            cmd += ["--slow-limit", str(args.slow_limit)]
            cmd += ["--visible-timeout", str(args.visible_timeout), "--subflow-count", str(args.subflow_count)]
            if not args.subflows:
                cmd.append("--no-subflows")
            print(f"[{server}] running {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            drops = 0
            assert proc.stderr is not None
            for line in proc.stderr:  # the child's and its API server's
                if "Subscription queue is full" in line:
                    drops += 1  # the server threw an event away
                elif line.startswith("{") or "Error" in line or "Traceback" in line:
                    print(line, end="", file=sys.stderr, flush=True)
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"[{server}] benchmark child failed ({proc.returncode})")
            result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            dropped[server] = drops
            rows += result["rows"]
            subflows += [{**s, "server": server} for s in result.get("subflows", [])]
    print_table(rows, subflows)
    for server, drops in dropped.items():
        print(f"[{server}] events the API server dropped (in-memory queue full): {drops}")


if __name__ == "__main__":
    main()

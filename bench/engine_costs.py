"""Engine costs: per-host Prefect task runs per second, engine cost per root task, memory per host.

    python -m bench.engine_costs [--sizes 100 1000 5000] [--roots 10] [--memory-hosts 100000]

- per-host mode: ``run_task`` of a trivial task with ``prefect.host_runs: per_host`` (one
  recorded Prefect task run per host) at each size, 50 workers; host task runs per second =
  hosts / wall time of the whole call (flow run included), against the same job without Prefect;
  "visible" is until the API lists every host's task run in its final state (what the UI shows).
- root task cost: ``run_tasks`` with N trivial root tasks on one host; (T(N) - T(1)) / (N - 1)
  is what one more root task (its subflow, recorder and artifacts) costs.
- memory: tracemalloc peak per host for an inventory of 100,000 hosts (validated models plus
  the task-facing host views a run builds).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from bench.common import hosts, isolate_prefect, log, table


def _trivial():  # type: ignore[no-untyped-def]
    from genja_prefect.task import TaskSuccessResult, task

    @task(name="noop")
    class Noop:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    return Noop


def _final_task_runs() -> int:
    from prefect.client.orchestration import get_client

    body = {"task_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}}}
    with get_client(sync_client=True) as client:
        return int(client.request("POST", "/task_runs/count", json=body).json())


def _wait_visible(target: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while _final_task_runs() < target and time.monotonic() < deadline:
        time.sleep(0.2)


def per_host_rate(sizes: list[int], workers: int, host_runs: str = "per_host", batch_size: int = 500) -> list[list[object]]:
    """Per size: the run recorded with ``prefect.host_runs`` (``per_host``: a task run per host;
    ``batch``: one per ``batch_size`` hosts), until the call returns and until the API shows
    every task run final."""
    import math

    import genja_prefect as genja_lib

    noop = _trivial()
    rows = []
    for n in sizes:
        before = _final_task_runs()
        base = genja_lib.Genja.from_hosts(hosts(n), {"g1": {}}, settings={"runner": {"worker_count": workers}})
        pf = base.with_settings(prefect={"host_runs": host_runs, "batch_size": batch_size, "artifacts": True})
        plain = base.with_settings(prefect={"enabled": False})
        start = time.perf_counter()
        plain.run_task(noop)
        t_plain = time.perf_counter() - start
        start = time.perf_counter()
        res = pf.run_task(noop)
        t_pf = time.perf_counter() - start
        assert len(res.passed_hosts) == n
        # until the API lists every host's (or batch's) run in its final state
        _wait_visible(before + (n if host_runs == "per_host" else math.ceil(n / batch_size)))
        t_visible = time.perf_counter() - start
        # Let the server also store the events before the next size starts (not timed): a
        # run that starts while the server digests the previous one waits for it.
        from genja_prefect.prefect.events import EventSender

        EventSender.shared().wait_until_written(600)
        label = "per-host task runs" if host_runs == "per_host" else f"batch task runs ({batch_size} hosts)"
        rows.append([label, n, workers, t_pf, n / t_pf, t_visible, n / t_visible, t_plain])
        log(f"{host_runs} {n}: {t_pf:.2f}s")
    return rows


def root_cost(roots: int) -> list[list[object]]:
    import genja_prefect as genja_lib

    noop = _trivial()
    genja = genja_lib.Genja.from_hosts({"h1": {}})
    times = {}
    for k in (1, roots):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            genja.run_tasks([noop] * k)
            best = min(best, time.perf_counter() - start)
        times[k] = best
    per_root = (times[roots] - times[1]) / (roots - 1)
    return [["engine cost per root task", 1, roots, times[roots], per_root, times[1]]]


def memory(n: int) -> list[list[object]]:
    import genja_prefect as genja_lib

    data = hosts(n)
    gc.collect()
    tracemalloc.start()
    genja = genja_lib.Genja.from_hosts(data, {"g1": {}})
    genja.hosts()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return [["memory per host (inventory + host views)", n, "-", current / n, peak / n, "-"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--roots", type=int, default=10)
    parser.add_argument("--memory-hosts", type=int, default=100_000)
    args = parser.parse_args()
    isolate_prefect()
    log("warming up Prefect")
    import genja_prefect as genja_lib

    genja_lib.Genja.from_hosts({"w": {}}).run_task(_trivial())
    rows = per_host_rate(args.sizes, args.workers)
    headers = ["scenario", "hosts", "workers", "wall s", "runs/s", "visible s", "visible runs/s", "no Prefect s"]
    print(table(headers, rows))
    print()
    print(table(["scenario", "hosts", "roots", f"T({args.roots}) s", "s per extra root", "T(1) s"], root_cost(args.roots)))
    print()
    print(table(["scenario", "hosts", "-", "bytes/host now", "bytes/host peak", "-"], memory(args.memory_hosts)))


if __name__ == "__main__":
    main()

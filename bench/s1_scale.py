"""S1: 10,000 hosts, each task sleeps 50 ms (simulated I/O), 200 workers.

genja-prefect (a real Prefect flow run in ephemeral mode, batch host runs above the threshold)
against Nornir 3's threaded runner and a plain ThreadPoolExecutor, in the same process run.
Also genja-prefect without Prefect, to separate engine cost from Prefect cost.

    python -m bench.s1_scale [--hosts 10000] [--workers 200] [--sleep-ms 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import best_of, hosts, isolate_prefect, log, table


def plain_threads(n: int, workers: int, sleep: float) -> None:
    def work(_: int) -> bool:
        time.sleep(sleep)
        return True

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(n)))


def nornir_runner(n: int, workers: int, sleep: float):  # type: ignore[no-untyped-def]
    from nornir.core import Nornir
    from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
    from nornir.core.task import Result, Task
    from nornir.plugins.runners import ThreadedRunner

    inv = Inventory(
        hosts=Hosts({name: Host(name=name, hostname=h["hostname"], platform="ios") for name, h in hosts(n).items()}),
        groups=Groups(),
        defaults=Defaults(),
    )
    nr = Nornir(inventory=inv, runner=ThreadedRunner(num_workers=workers))

    def io(task: Task) -> Result:
        time.sleep(sleep)
        return Result(host=task.host)

    def run() -> None:
        result = nr.run(task=io)
        assert not result.failed and len(result) == n

    return run


def genja_runner(n: int, workers: int, sleep: float, prefect: bool, host_runs: str = "auto"):  # type: ignore[no-untyped-def]
    import genja_prefect as genja_lib
    from genja_prefect.task import TaskSuccessResult, task

    @task(name="io")
    class IO:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            time.sleep(sleep)
            return TaskSuccessResult()

    genja = genja_lib.Genja.from_hosts(
        hosts(n), {"g1": {}},
        settings={"runner": {"worker_count": workers}, "prefect": {"enabled": prefect, "host_runs": host_runs}},
    )

    def run() -> None:
        result = genja.run_task(IO)
        assert len(result.passed_hosts) == n, result.host_summary()

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--sleep-ms", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    isolate_prefect()
    n, w, s = args.hosts, args.workers, args.sleep_ms / 1000
    ideal = n * s / w
    log("warming up Prefect (ephemeral API start is not part of any timing)")
    genja_runner(10, 5, 0, True)()
    rows = []
    log("plain threads"); threads = best_of(args.repeat, lambda: plain_threads(n, w, s))
    log("nornir"); nornir = best_of(args.repeat, nornir_runner(n, w, s))
    log("genja-prefect without prefect"); plain = best_of(args.repeat, genja_runner(n, w, s, False))
    log("genja-prefect"); pf = best_of(args.repeat, genja_runner(n, w, s, True))
    for name, t in [("plain ThreadPoolExecutor", threads), ("nornir 3 threaded", nornir),
                    ("genja-prefect, prefect disabled", plain), ("genja-prefect (Prefect flow run)", pf)]:
        rows.append([f"S1 {name}", n, w, t, t / nornir, t / threads, t / ideal])
    print(table(["scenario", "hosts", "workers", "best wall s", "x nornir", "x threads", "x ideal"], rows))
    print(f"ideal (hosts x sleep / workers) = {ideal:.2f} s; best of {args.repeat}")


if __name__ == "__main__":
    main()

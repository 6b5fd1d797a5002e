"""Device locks: what holding Prefect concurrency slots costs per host.

The same per-host run (trivial task, 20 workers, ``prefect.host_runs: per_host``, the temporary
server) three ways: no concurrency limit matching any host (the default: one lookup per run),
a tag limit every host holds (``tag:group:bench``, 1,000 slots: nobody waits), and
``prefect.device_lock: true`` (one ``genja-device:<id>`` limit per host). Best of 3.

    python -m bench.locks_cost [--hosts 200] [--repeat 3]
"""

from __future__ import annotations

import argparse

from bench.common import best_of, isolate_prefect, log, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    isolate_prefect()
    import genja_prefect as genja_lib
    from genja_prefect.task import TaskSuccessResult, task

    @task(name="noop")
    class Noop:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(summary="ok")

    hosts = {f"h{i}": {"groups": ["bench"]} for i in range(args.hosts)}

    def runtime(**prefect: object) -> genja_lib.Genja:
        settings = {"runner": {"worker_count": args.workers}, "prefect": {"host_runs": "per_host", **prefect}}
        return genja_lib.Genja.from_hosts(hosts, {"bench": {}}, settings=settings)

    log("warming up Prefect")
    runtime().run_task(Noop)
    plain = best_of(args.repeat, lambda: runtime().run_task(Noop))
    log(f"no limits: {plain:.2f}s")
    runtime(device_lock=True).run_task(Noop)  # creates the device limits once (not timed)
    device = best_of(args.repeat, lambda: runtime(device_lock=True).run_task(Noop))
    log(f"device locks: {device:.2f}s")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.request("POST", "/v2/concurrency_limits/", json={"name": "tag:group:bench", "limit": 1000})
    tagged = best_of(args.repeat, lambda: runtime().run_task(Noop))
    log(f"tag limit: {tagged:.2f}s")
    n = args.hosts
    rows = [
        ["no matching limit", n, args.workers, plain, 0.0],
        ["tag limit on every host", n, args.workers, tagged, (tagged - plain) / n * 1000],
        ["device_lock: true", n, args.workers, device, (device - plain) / n * 1000],
    ]
    print(table(["scenario", "hosts", "workers", "best wall s", "extra ms per host"], rows))


if __name__ == "__main__":
    main()

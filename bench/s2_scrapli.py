"""S2: ``show version`` on 200 SSH devices, 50 workers: genja-prefect's scrapli plugin against
raw scrapli in a ``ThreadPoolExecutor(50)``, in the same process run, against the same devices.

Each host: open a scrapli session (bin transport, the plugin's default), ``show version``,
close. genja-prefect runs it as ``run_task`` (threaded runner, ``worker_count`` 50) with the
first-party ``scrapli`` plugin; "raw" is the same scrapli calls with the same options in a
thread pool. The devices run in a separate process (``genja_prefect.lab`` in the background),
so the device side does not compete with the measured client for the GIL; on this 2-core
machine it still competes for the CPU, identically for both sides.

Device kinds:
- ``fakenos``: fakenos cisco_ios models (open ~0.7 s, ``show version`` ~0.2 s: slow echo);
- ``sim``: the lab's asyncssh simulator (a command in 1-2 ms), which shows the overhead
  more sharply because the device costs almost nothing.

    python -m bench.s2_scrapli [--hosts 200] [--workers 50] [--repeat 2] [--kinds fakenos,sim]
                               [--prefect off,on]

``--prefect on`` runs genja-prefect as a Prefect flow run (ephemeral API) too, when
``genja_prefect.prefect.flows`` is available.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import isolate_prefect, log, machine, table

PASSWORD = "bench-s2-pw"
DEFINITIONS = {"ios": "cisco_iosxe", "eos": "arista_eos"}


def start_devices(kind: str, n: int, directory: str) -> tuple[list[tuple[str, int]], float, Callable[[], None]]:
    """Start ``n`` devices in a background lab process; (name, port) pairs, start seconds, stop."""
    from genja_prefect.lab.background import lab_down, lab_up

    counts = {"ios": n} if kind == "fakenos" else {"sim": n}
    start = time.perf_counter()
    status = lab_up(directory, password=PASSWORD, timeout=600, **counts)
    elapsed = time.perf_counter() - start
    devices = [(h.name, h.port) for h in status.hosts]
    return devices, elapsed, lambda: lab_down(directory)


def raw_scrapli(
    devices: list[tuple[str, int]], workers: int, timeout: float, keep_open: bool = False
) -> Callable[[], None]:
    """Raw scrapli in a thread pool. ``keep_open`` mirrors genja-prefect's connection lifetime
    (sessions stay open until the run ends, then are closed one after the other), which
    separates the engine's own cost from the cost of that policy."""
    from scrapli import AuthOptions, Cli, SessionOptions, TransportBinOptions

    def one(device: tuple[str, int], opened: list[Cli]) -> str:
        _, port = device
        cli = Cli(
            "127.0.0.1",
            port=port,
            definition_file_or_name="cisco_iosxe",
            auth_options=AuthOptions(username="admin", password=PASSWORD),
            session_options=SessionOptions(operation_timeout_ns=int(timeout * 1e9)),
            transport_options=TransportBinOptions(enable_strict_key=False),
        )
        cli.open()
        try:
            result = cli.send_input("show version", operation_timeout_ns=int(timeout * 1e9))
        finally:
            if keep_open:
                opened.append(cli)
            else:
                cli.close()
        return str(result.result)

    def run() -> None:
        opened: list[Cli] = []
        with ThreadPoolExecutor(workers) as pool:
            outputs = list(pool.map(lambda device: one(device, opened), devices))
        for cli in opened:
            cli.close()
        assert all("Cisco IOS" in o for o in outputs), "a raw scrapli show version failed"

    return run


def genja_scrapli(devices: list[tuple[str, int]], workers: int, prefect: bool, timeout: float) -> Callable[[], None]:
    import genja_prefect as genja_lib
    from genja_prefect.task import TaskSuccessResult, task

    @task(name="show_version", connection_plugin_name="scrapli")
    class ShowVersion:
        def start(self, task: Any, host: Any, context: Any) -> TaskSuccessResult:
            return TaskSuccessResult(result=context.connection().execute_command("show version"))

    hosts = {
        name: {"hostname": "127.0.0.1", "port": port, "platform": "ios", "username": "admin", "password": PASSWORD,
               "connection_options": {"scrapli": {"extras": {
                   "auth_strict_key": False, "timeout_open": timeout, "timeout_ops": timeout}}}}
        for name, port in devices
    }
    manager = genja_lib.PluginManager()
    manager.plugins("connection")  # discover once, before worker threads ask
    genja = genja_lib.Genja.from_hosts(
        hosts, settings={"runner": {"worker_count": workers}, "prefect": {"enabled": prefect}}, plugin_manager=manager
    )

    def run() -> None:
        results = genja.run_task(ShowVersion)
        failed = {h: results[h].message for h in results.failed_hosts}
        assert not failed and len(results.passed_hosts) == len(devices), failed
        assert all("Cisco IOS" in results[h].result for h in results.passed_hosts)

    return run


def one_line(exc: BaseException) -> str:
    """An exception as one short line for a table's note column."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:160]


def interleaved_best(repeat: int, runs: dict[str, Callable[[], None]]) -> tuple[dict[str, float], dict[str, str]]:
    """Run each candidate ``repeat`` times, alternating, and keep each one's fastest time.

    A round that fails (a session that could not authenticate on a loaded machine, say) is
    not timed; its error is kept, and the other rounds and candidates go on. Returns the best
    times of the candidates with at least one good round and the last error of each one that
    failed a round."""
    best: dict[str, float] = {}
    errors: dict[str, str] = {}
    for round_ in range(repeat):
        for name, fn in runs.items():
            log(f"  round {round_ + 1}/{repeat}: {name}")
            start = time.perf_counter()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - reported in the row, the benchmark goes on
                errors[name] = one_line(exc)
                log(f"  round {round_ + 1}/{repeat}: {name} failed: {errors[name]}")
                continue
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    return best, errors


def warm_up(run: Callable[[], None], attempts: int) -> str | None:
    """The untimed first run (ssh, libscrapli and the devices' first sessions), tried up to
    ``attempts`` times: under load the first logins can time out. Returns the last error when
    every attempt failed (the timed rounds still run and say how they fared)."""
    error = None
    for attempt in range(1, attempts + 1):
        try:
            run()
            return None
        except Exception as exc:  # noqa: BLE001 - retried, then reported
            error = one_line(exc)
            log(f"warm-up attempt {attempt}/{attempts} failed: {error}")
    return error


def _ratio(a: float | None, b: float | None) -> float | str:
    return "-" if a is None or b is None else a / b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kinds", default="fakenos,sim")
    parser.add_argument("--prefect", default="off,on")
    # 50 sessions at once against 200 fakenos devices in one Python process is slow to
    # authenticate on 2 cores: generous, identical timeouts on both sides.
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    isolate_prefect()
    # Other work on a shared 2-core box can slow the ephemeral API's start past Prefect's 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # scrapli logs a warning per session on these devices (enable asks no password); its level
    # also decides what libscrapli forwards across the FFI, the same for both sides.
    logging.getLogger("scrapli").setLevel(logging.ERROR)
    modes = [m.strip() for m in args.prefect.split(",") if m.strip()]
    if "on" in modes and importlib.util.find_spec("genja_prefect.prefect.flows") is None:
        log("genja_prefect.prefect.flows is not available: Prefect-enabled rows skipped")
        modes = [m for m in modes if m != "on"]
    if "on" in modes:
        log("warming up Prefect (the ephemeral API start is not part of any timing)")
        import genja_prefect as genja_lib
        from genja_prefect.task import TaskSuccessResult, task

        @task(name="warmup")
        class Warmup:
            def start(self, task: Any, host: Any, context: Any) -> TaskSuccessResult:
                return TaskSuccessResult()

        genja_lib.Genja.from_hosts({"w": {"hostname": "127.0.0.1"}}).run_task(Warmup)
    rows: list[list[Any]] = []
    notes = []
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        best: dict[str, float] = {}
        errors: dict[str, str] = {}
        count = args.hosts
        try:
            with tempfile.TemporaryDirectory(prefix=f"genja-bench-s2-{kind}-") as directory:
                log(f"starting {args.hosts} {kind} devices in a background lab process")
                devices, started, stop = start_devices(kind, args.hosts, directory)
                count = len(devices)
                notes.append(f"{kind}: {count} devices started in {started:.1f} s")
                try:
                    runs = {"raw": raw_scrapli(devices, args.workers, args.timeout),
                            "raw keep-open": raw_scrapli(devices, args.workers, args.timeout, keep_open=True)}
                    for mode in modes:
                        runs[f"genja prefect={mode}"] = genja_scrapli(devices, args.workers, mode == "on", args.timeout)
                    log("warm-up run (ssh, libscrapli and the devices' first sessions are not timed)")
                    warm_error = warm_up(runs["raw"], attempts=3)
                    if warm_error:
                        notes.append(f"{kind}: warm-up failed 3 times ({warm_error})")
                    best, errors = interleaved_best(args.repeat, runs)
                finally:
                    stop()
        except Exception as exc:  # noqa: BLE001 - the devices did not start: say so in the rows
            errors = {"devices": f"devices did not start: {one_line(exc)}"}
        for mode in modes:
            name = f"genja prefect={mode}"
            genja_time, raw, keep = best.get(name), best.get("raw"), best.get("raw keep-open")
            why = "; ".join(f"{k}: {v}" for k, v in errors.items() if k in (name, "raw", "raw keep-open", "devices"))
            failed_rounds = why and all(x is not None for x in (genja_time, raw, keep))
            rows.append([f"S2 show version, {kind}, prefect {mode}", count, args.workers,
                         "-" if genja_time is None else genja_time, "-" if raw is None else raw, _ratio(genja_time, raw),
                         "-" if keep is None else keep, _ratio(genja_time, keep),
                         ("some rounds failed: " if failed_rounds else "") + why])
    print(table(["scenario", "hosts", "workers", "genja s", "raw scrapli s", "ratio",
                 "raw keep-open s", "ratio keep-open", "note"], rows))
    print("raw: open, show version, close in each worker; raw keep-open: sessions closed one by one "
          "after the pool, as genja-prefect's per-run connection cache does")
    print(f"best of {args.repeat} interleaved runs each; " + "; ".join(notes))
    print(machine())


if __name__ == "__main__":
    main()

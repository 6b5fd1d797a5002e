"""Cold start: the whole ``genja-prefect run collect_facts`` command on 6 lab devices, wall clock
from the shell's point of view, side by side with what it is measured against (issue 15):

- ``prefect, no server, not at a terminal``: no ``PREFECT_API_URL``; as in cron, CI and
  scripts (``prefect.server: auto`` there is ``temporary``), the command starts a temporary
  Prefect server for itself (in the background: the devices do not wait for it) and exits
  once the run's record is written;
- ``prefect, server running``: ``PREFECT_API_URL`` names a server started before (not timed);
- ``prefect, no server, at a terminal``: no ``PREFECT_API_URL``; what ``prefect.server: auto``
  does at a terminal (``background``, set here explicitly: the benchmark has no terminal). The
  first call starts the lasting ``genja-prefect server`` (timed once, its own row: the start a
  user pays once), the timed calls use it;
- ``--no-prefect``: the same job without Prefect;
- ``plain scrapli script``: a Python script that imports scrapli and runs ``show version`` on the
  6 devices in a ``ThreadPoolExecutor`` (the anchor: what the job does, minus everything else).

Each is a fresh process, best of ``--repeat`` (3), interleaved so that load changes hit every
scenario alike; each round starts at a different scenario, and each timed command starts
``--settle`` seconds (2) after the one before, so that no command pays for the previous one's
server still writing its record (a server flushes what it got once a second). The devices
(fakenos IOS) run in a background lab process.

    python -m bench.cold_start [--repeat 3] [--devices 6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import log, machine, table

PASSWORD = "bench-cold-pw"

SCRAPLI_SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
from scrapli import AuthOptions, Cli, TransportBinOptions

ports = [int(p) for p in sys.argv[1:]]

def one(port):
    cli = Cli("127.0.0.1", port=port, definition_file_or_name="cisco_iosxe",
              auth_options=AuthOptions(username="admin", password=%r),
              transport_options=TransportBinOptions(enable_strict_key=False))
    cli.open()
    try:
        return str(cli.send_input("show version").result)
    finally:
        cli.close()

with ThreadPoolExecutor(len(ports)) as pool:
    outputs = list(pool.map(one, ports))
assert all("Cisco IOS" in o for o in outputs)
""" % PASSWORD


def _run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def _server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV

    server_env = {**env, **FAST_INGEST_SERVER_ENV, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("prefect server start did not answer within 300 s")


AT_A_TERMINAL = "prefect, no server, at a terminal (auto: lasting server)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--devices", type=int, default=6)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between timed commands")
    args = parser.parse_args()

    from genja_prefect.lab.background import lab_down, lab_up
    from genja_prefect.ports import free_listen_port

    work = Path(tempfile.mkdtemp(prefix="genja-bench-cold-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(work / "home"))
    cli = str(Path(sys.executable).parent / "genja-prefect")
    log(f"starting {args.devices} fakenos IOS devices")
    status = lab_up(work / "lab", password=PASSWORD, timeout=600, ios=args.devices)
    server: subprocess.Popen[bytes] | None = None
    try:
        settings = str(work / "lab" / "settings.yaml")
        ports = [str(h.port) for h in status.hosts]
        job = [cli, "run", "collect_facts", "--settings", settings, "--json"]
        log("starting a prefect server for the 'server running' scenario (not timed)")
        server, url = _server(work / "server-home", base)
        runs = {
            "prefect, no server, not at a terminal (temporary)": (job, base),
            "prefect, server running": (job, {**base, "PREFECT_API_URL": url}),
            AT_A_TERMINAL: (
                job, {**base, "PREFECT_HOME": str(work / "bg-home"), "GENJA_PREFECT_PREFECT__SERVER": "background",
                      "GENJA_PREFECT_PREFECT__SERVER_PORT": str(free_listen_port())},
            ),
            "--no-prefect": ([*job, "--no-prefect"], base),
            "plain scrapli script": ([sys.executable, "-c", SCRAPLI_SCRIPT, *ports], base),
        }
        log("warm-up (first database migration, first ssh sessions: not timed)")
        first = {name: _run(cmd, env, work) for name, (cmd, env) in runs.items()}
        best = {name: float("inf") for name in runs}
        names = list(runs)
        for round_ in range(args.repeat):
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                time.sleep(args.settle)
                cmd, env = runs[name]
                best[name] = min(best[name], _run(cmd, env, work))
            log(f"round {round_ + 1}: " + ", ".join(f"{n} {t:.2f}" for n, t in best.items()))
        load = os.getloadavg()[0]
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        # the lasting server the background scenario started
        subprocess.run([cli, "server", "stop"], env={**base, "PREFECT_HOME": str(work / "bg-home")}, capture_output=True, timeout=60)
        lab_down(work / "lab")
        shutil.rmtree(work, ignore_errors=True)
    best = {**best, f"{AT_A_TERMINAL}: its first call, which starts the server (once)": first[AT_A_TERMINAL]}
    no_prefect, anchor = best["--no-prefect"], best["plain scrapli script"]
    print(f"# machine: {machine()}; load average at the end: {load:.1f}")
    print(
        table(
            ["scenario", "devices", f"best of {args.repeat} s", "vs --no-prefect", "vs plain scrapli"],
            [[name, args.devices, t, t / no_prefect, t / anchor] for name, t in best.items()],
        )
    )


if __name__ == "__main__":
    main()

"""Cold start of the command line and the package: fresh processes, best of N wall times.

    python -m bench.cli_startup                       # this checkout
    python -m bench.cli_startup --pythonpath OTHER    # another checkout (e.g. a git worktree of
                                                      # an older commit), for a before/after

Prints one row per command, with ``python -c pass`` as the floor, and whether the command
imported Prefect (issue 15: ``--help``, ``inventory``, ``lab`` and ``--no-prefect`` must not).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "python -c pass": "pass",
    "import genja_prefect": "import genja_prefect",
    "genja-prefect --help": "import sys; from genja_prefect.cli import main; sys.argv = ['genja-prefect', '--help']; main()",
    "import genja_prefect_flows": "import genja_prefect_flows",
}


_PREFECT = re.compile(r"\|\s*prefect\s*$")


def best(code: str, env: dict[str, str], repeat: int) -> tuple[float, float, bool]:
    """Best wall time and best CPU time (user + system) of ``python -c code``, and whether it
    imported Prefect. CPU time moves less than wall time when other work shares the cores."""
    walls, cpus = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        # cwd elsewhere: `python -c` puts the working directory first on sys.path.
        child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tempfile.gettempdir(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(child.pid, 0)
        child.returncode = 0  # reaped by wait4
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
    probe = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=tempfile.gettempdir(),
                           capture_output=True, text=True, check=False)
    imported = any(_PREFECT.search(line) for line in probe.stderr.splitlines())
    return min(walls), min(cpus), imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythonpath", default=str(ROOT), help="the checkout to measure (default: this one)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    checkout = Path(args.pythonpath).resolve()
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'flows'}"}
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f}; checkout {checkout}")
    print(f"| command | wall, best of {args.repeat} | CPU, best of {args.repeat} | imports Prefect |\n|---|---|---|---|")
    for label, code in COMMANDS.items():
        wall, cpu, imported = best(code, env, args.repeat)
        print(f"| {label} | {wall:.3f} s | {cpu:.3f} s | {'yes' if imported else 'no'} |", flush=True)


if __name__ == "__main__":
    main()

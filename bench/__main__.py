"""Run every benchmark, one after the other, each in its own process:

    python -m bench            # S1, engine costs, S2, cold start (S2 and cold start need the lab
                               # extra), locks, PostgreSQL vs SQLite ingest (needs Debian's postgresql)
    python -m bench --quick    # smaller sizes, for a smoke check
"""

from __future__ import annotations

import subprocess
import sys

from bench.common import machine


def main() -> None:
    quick = "--quick" in sys.argv
    runs = [
        ["bench.s1_scale"] + (["--hosts", "2000", "--repeat", "1"] if quick else []),
        ["bench.engine_costs"] + (["--sizes", "100", "500", "--memory-hosts", "10000"] if quick else []),
        ["bench.s2_scrapli"] + (["--hosts", "20", "--repeat", "1", "--kinds", "sim"] if quick else []),
        ["bench.locks_cost"] + (["--hosts", "50", "--repeat", "1"] if quick else []),
        ["bench.postgres_ingest", "--modes", "per_host", "batch"] + (["--sizes", "500"] if quick else []),
        ["bench.cold_start"] + (["--repeat", "1"] if quick else []),
    ]
    print(f"# machine: {machine()}")
    failed = 0
    for args in runs:
        print(f"\n$ python -m {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", *args]).returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""README's quick start: `genja-prefect demo` on a machine with no Prefect server configured."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.test_cli import cli


def test_demo_runs_facts_and_backups_on_the_temporary_server_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    out = cli("demo", "--dir", str(tmp_path / "lab"), env=env, timeout=400)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "│ collect_facts │ 12     │ 0      │ 0       │" in out.stdout, out.stdout
    assert "│ backup_config │ 11     │ 0      │ 0       │" in out.stdout, out.stdout
    assert len(list((tmp_path / "lab" / "backups").glob("*.cfg"))) == 11
    # what a first-time user sees: no tracebacks, no errors, no telemetry from the demo's server
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]
    assert "temporary server" in out.stdout and "genja-prefect server start" in out.stdout

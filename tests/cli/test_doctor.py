"""`genja-prefect doctor` when the server cannot be checked: one line, exit 1, no traceback.

Against a healthy server (scheduler on, a scheduled run completed, a live worker) it is run in
tests/flows/test_schedules.py; against a server whose scheduler is off in
tests/flows/test_deployments.py.
"""

from __future__ import annotations

import os

from tests.cli.test_cli import cli


def _closed_port() -> int:
    from genja_prefect.ports import free_listen_port

    return free_listen_port()  # nothing listens, and no other test process's server gets it


def test_unreachable_api_is_one_line_and_exit_1() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    done = cli("doctor", env={"PREFECT_API_URL": url}, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith(f"FAIL  api       {url} not reachable: ") and "prefect server start" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_api_url_option_wins_over_the_environment() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    done = cli("doctor", "--api-url", url, "--timeout", "5",
               env={"PREFECT_API_URL": "http://127.0.0.1:9/other"}, timeout=120)
    assert done.returncode == 1 and url in done.stdout and "/other" not in done.stdout


def test_no_api_configured_says_what_to_set(tmp_path: object) -> None:
    # tests/conftest.py removed PREFECT_API_URL; a fresh PREFECT_HOME has no profile with one.
    assert "PREFECT_API_URL" not in os.environ
    done = cli("doctor", env={"PREFECT_HOME": str(tmp_path)}, timeout=120)
    assert done.returncode == 1
    assert done.stdout.strip() == ("FAIL  api       no Prefect API configured (PREFECT_API_URL is not set) -> "
                                   "set PREFECT_API_URL=http://HOST:PORT/api (the server's address) or pass --api-url")


def test_usage_error_is_exit_2() -> None:
    done = cli("doctor", "--timeout", "soon", timeout=120)
    assert done.returncode == 2 and "invalid float value" in done.stderr

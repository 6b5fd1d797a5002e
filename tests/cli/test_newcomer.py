"""The command line as a newcomer uses it (issue 13), through the real console script.

One test per thing that went wrong for a new user: every user error is one line with exit
code 2 and no traceback (unless ``--debug``, accepted anywhere), a misspelled filter key is
the same error everywhere, ``--no-prefect`` imports no Prefect, ``rerun`` works for ready-made
jobs, reasons are shown in full, passing runs are quiet, and the lab prints a table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import server_template
from tests.cli.test_cli import cli

FILTER_TYPO = "filter: unknown key 'platfrom'"


@pytest.fixture
def api_env(prefect_api: str) -> dict[str, str]:
    return {"PREFECT_API_URL": prefect_api}


def _copy_lab(lab: Any, folder: Path, **host_changes: dict[str, Any]) -> str:
    """A copy of the lab's inventory in ``folder`` with some host entries changed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("groups.yaml", "defaults.yaml", "settings.yaml"):
        shutil.copy(Path(lab.directory) / name, folder / name)
    hosts = yaml.safe_load((Path(lab.directory) / "hosts.yaml").read_text())
    for host, changes in host_changes.items():
        hosts.setdefault(host, {}).update(changes)
    (folder / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return str(folder / "settings.yaml")


def _one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, out.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), out.stderr
    return errors[0]


def _prefect_imported(out: subprocess.CompletedProcess[str]) -> bool:
    """Whether the process imported Prefect (``PYTHONPROFILEIMPORTTIME`` lines on stderr)."""
    return any(re.search(r"\|\s*prefect\s*$", line) for line in out.stderr.splitlines())


# 1. rerun works for ready-made jobs, by id and by name; every run prints its id and URL
def test_rerun_ready_made_job_by_id_and_name(lab: Any, tmp_path: Path, api_env: dict[str, str]) -> None:
    settings = _copy_lab(lab, tmp_path / "inv", **{"sim-ios2": {"password": "wrong-for-now"}})
    first = cli("run", "collect_facts", "--settings", settings, "--filter", "platform=ios", env=api_env)
    assert first.returncode == 1, first.stdout + first.stderr
    run_line = next(line for line in first.stdout.splitlines() if line.startswith("Flow run "))
    run_id = run_line.split()[2]
    assert "(PREFECT_API_URL)" in run_line  # which server recorded it
    assert f"/runs/flow-run/{run_id}" in first.stdout  # and the run's UI address

    _copy_lab(lab, tmp_path / "inv")  # password fixed
    again = cli("rerun", run_id, "--failed", env=api_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    assert "│ collect_facts │ 1 " in again.stdout  # only the host that failed ran again

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        name = client.read_flow_run(run_id).name
        assert name == "collect_facts platform=ios (3 hosts)"
        # Other tests on this server ran the same job and selection (same name: ambiguous, and
        # rerun says so); a name of its own makes this one unique.
        name = f"{name} {run_id[:8]}"
        client.update_flow_run(run_id, name=name)
    by_name = cli("rerun", name, "--failed", "--json", env=api_env)
    assert by_name.returncode == 0, by_name.stdout + by_name.stderr
    assert set(json.loads(by_name.stdout)["hosts"]) == {"sim-ios2"}

    _one_line_error(cli("rerun", "no-run-has-this-name", "--failed", env=api_env), "no flow run named 'no-run-has-this-name'")


# 2. errors inside ready-made jobs: one line, exit 2, no Prefect traceback; --debug anywhere
def test_job_errors_are_one_line_and_debug_works_anywhere(lab: Any, tmp_path: Path, api_env: dict[str, str]) -> None:
    settings = _copy_lab(lab, tmp_path / "inv")
    bad_yaml = tmp_path / "inv" / "settings.yaml"
    bad_yaml.write_text(bad_yaml.read_text() + "runner:\n  plugin: threaded\n   worker_count: 3\n")
    out = cli("run", "collect_facts", "--settings", settings, env=api_env)
    _one_line_error(out, "settings.yaml", "line")
    assert "unexpected" not in out.stderr

    typo = cli("run", "collect_facts", "--settings", str(Path(lab.directory) / "settings.yaml"), "--filter", "platfrom=ios", env=api_env)
    _one_line_error(typo, FILTER_TYPO)

    missing = cli("run", "deploy_config", "--settings", str(Path(lab.directory) / "settings.yaml"),
                  "--filter", "platform=eos", "--param", f"template={tmp_path / 'missing.j2'}", env=api_env)
    _one_line_error(missing, "template file not found")

    wrong_type = cli("run", "collect_facts", "--settings", str(Path(lab.directory) / "settings.yaml"), "--param", "include_raw=maybe")
    _one_line_error(wrong_type, "--param include_raw='maybe'", "expects bool")

    debug = cli("run", "collect_facts", "--settings", settings, "--debug", env=api_env)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "unrecognized arguments" not in debug.stderr


# 3. a misspelled filter key is the same error everywhere
def test_filter_typo_is_the_same_error_everywhere(lab: Any) -> None:
    settings = str(Path(lab.directory) / "settings.yaml")
    lines = {
        "inventory": _one_line_error(cli("inventory", "list", "--settings", settings, "--filter", "platfrom=ios"), FILTER_TYPO),
        "task class": _one_line_error(
            cli("run", "tests.cli.tasks:ShowVersion", "--settings", settings, "--filter", "platfrom=ios", "--no-prefect"), FILTER_TYPO
        ),
        "job": _one_line_error(cli("run", "collect_facts", "--settings", settings, "--filter", "platfrom=ios", "--no-prefect"), FILTER_TYPO),
    }
    assert len(set(lines.values())) == 1, lines

    import genja_prefect
    from genja_prefect.errors import FilterError

    with pytest.raises(FilterError) as raised:
        genja_prefect.Genja.from_settings_file(settings).filter(platfrom="ios")
    assert f"error: {raised.value}" == lines["job"]


# 4. --no-prefect: no Prefect import, no server, no flow run
def test_no_prefect_imports_no_prefect(lab: Any, tmp_path: Path) -> None:
    settings = str(Path(lab.directory) / "settings.yaml")
    env = {"PYTHONPROFILEIMPORTTIME": "1", "PREFECT_HOME": str(tmp_path / "home")}
    out = cli("run", "collect_facts", "--settings", settings, "--filter", "platform=eos", "--no-prefect", "--json", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["hosts"]["eos1"]["status"] == "passed"
    assert not _prefect_imported(out)
    assert not (tmp_path / "home").exists()  # no temporary server, no database
    for args in (["--help"], ["inventory", "list", "--settings", settings], ["lab", "status", "--dir", str(tmp_path)]):
        quick = cli(*args, env=env)
        assert quick.returncode == 0, quick.stderr[-2000:]
        assert not _prefect_imported(quick), args


# 5. results: skipped reasons, full failure messages, where files went; --show; --json
def test_results_view_shows_reasons_in_full(lab: Any, tmp_path: Path, api_env: dict[str, str]) -> None:
    settings = _copy_lab(lab, tmp_path / "inv", **{"sim-ios2": {"password": "wrong-again"}})
    out = cli("run", "collect_facts", "--settings", settings, "--filter", "groups__contains=lab_ssh",
              "--filter", "platform__in=[ios, netconf]", "--no-prefect")
    assert out.returncode == 1, out.stderr
    joined = " ".join(out.stdout.split())
    assert "sim-ios2 FAILED" in joined and "authentication" in joined
    # the whole message, wrapped but not cut: its last words are there
    assert "timeout_open" in joined, out.stdout
    skipped = cli("run", "collect_facts", "--settings", settings, "--filter", "id__in=[netconf1, api1]", "--no-prefect")
    assert skipped.returncode == 0, skipped.stderr
    assert "netconf1 skipped" in skipped.stdout and "no facts parser for platform 'netconf'" in " ".join(skipped.stdout.split())

    backup = cli("run", "backup_configs", "--settings", settings, "--filter", "platform=eos", "--no-prefect",
                 "--param", f"backup_dir={tmp_path / 'backups'}", "--show", "results")
    assert backup.returncode == 0, backup.stderr
    assert f"file(s) written in {tmp_path / 'backups'}" in backup.stdout
    assert "eos1 passed" in backup.stdout and "first backup" in backup.stdout
    none = cli("run", "collect_facts", "--settings", settings, "--filter", "id__in=[netconf1]", "--no-prefect", "--show", "none")
    assert "netconf1" not in none.stdout and "collect_facts" in none.stdout
    as_json = cli("run", "collect_facts", "--settings", settings, "--filter", "id__in=[netconf1]", "--no-prefect", "--json")
    assert json.loads(as_json.stdout)["hosts"]["netconf1"]["status"] == "skipped"


# 6. quiet by default: a passing run has nothing at WARNING or above on stderr
def test_passing_run_is_quiet(lab: Any, api_env: dict[str, str]) -> None:
    settings = str(Path(lab.directory) / "settings.yaml")
    out = cli("run", "collect_facts", "--settings", settings, "--filter", "platform=ios", env=api_env)
    assert out.returncode == 0, out.stderr
    noisy = [line for line in out.stderr.splitlines() if any(w in line for w in ("WARNING", "ERROR", "CRITICAL", "Traceback"))]
    assert noisy == [], out.stderr
    assert "Flow run " in out.stdout and "/runs/flow-run/" in out.stdout
    # the device libraries' logs are there for whoever asks (scrapli narrates every session)
    verbose = cli("run", "collect_facts", "--settings", settings, "--filter", "id=sim-ios1", "--no-prefect", "--verbose")
    assert verbose.returncode == 0 and "scrapli" in verbose.stderr, verbose.stderr[-2000:]


# 7. lab up / status print a table and the next command; lab down says what it did
def test_lab_prints_a_table_and_next_steps(tmp_path: Path) -> None:
    directory = tmp_path / "lab"
    counts = ["--ios", "0", "--eos", "0", "--junos", "0", "--sim", "1", "--sim-eos", "1", "--netconf", "0", "--http", "0"]
    up = cli("lab", "up", "--dir", str(directory), *counts)
    try:
        assert up.returncode == 0, up.stderr
        assert "LabStatus(" not in up.stdout
        assert "sim-eos1" in up.stdout and "127.0.0.1:" in up.stdout
        assert f"genja-prefect run collect_facts --settings {directory / 'settings.yaml'}" in up.stdout
        status = cli("lab", "status", "--dir", str(directory))
        assert status.returncode == 0 and "sim-ios1" in status.stdout and "platform" in status.stdout
        second = cli("lab", "up", "--dir", str(directory), *counts)
        _one_line_error(second, "genja-prefect lab down")
    finally:
        down = cli("lab", "down", "--dir", str(directory))
    assert down.returncode == 0 and "stopped the lab" in down.stdout, down.stdout + down.stderr
    assert "no lab running" in cli("lab", "status", "--dir", str(directory)).stdout


def test_background_server_is_reused_by_runs(lab: Any, tmp_path: Path) -> None:
    """`genja-prefect server start` once; runs then record there and say so; `server stop`."""
    from genja_prefect.ports import free_listen_port

    port = str(free_listen_port())
    # The session's migrated database (tests/server_template.py): this test is about reuse; the
    # first start on an empty home is the at-a-terminal test's.
    env = {"PREFECT_HOME": str(server_template.seed_home(tmp_path / "home").parent)}
    try:
        started = cli("server", "start", "--port", port, env=env, timeout=400)
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        status = cli("server", "status", env=env)
        assert f"http://127.0.0.1:{port}" in status.stdout
        # the UI served there calls this server's API, not Prefect's default port 4200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=30) as reply:
            assert json.loads(reply.read())["api_url"] == f"http://127.0.0.1:{port}/api"
        run = cli("run", "collect_facts", "--settings", str(Path(lab.directory) / "settings.yaml"), "--filter", "platform=eos", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"http://127.0.0.1:{port}/runs/flow-run/" in run.stdout
    finally:
        stopped = cli("server", "stop", env=env)
    assert stopped.returncode == 0 and "stopped the Prefect server" in stopped.stdout, stopped.stdout + stopped.stderr
    assert "no genja-prefect server running" in cli("server", "status", env=env).stdout


def test_background_server_setting_starts_it_on_first_use(lab: Any, tmp_path: Path) -> None:
    """`prefect.server: background`: the first run starts the lasting server, the next one
    uses the same process (no start to wait for), `server stop` ends it."""
    from genja_prefect.ports import free_listen_port

    port = free_listen_port()
    env = {
        "PREFECT_HOME": str(server_template.seed_home(tmp_path / "home").parent),  # migrated: see above
        "GENJA_PREFECT_PREFECT__SERVER": "background",
        "GENJA_PREFECT_PREFECT__SERVER_PORT": str(port),
    }
    env_without_api = {k: "" for k in os.environ if k.startswith("PREFECT_API")}
    settings = str(Path(lab.directory) / "settings.yaml")
    try:
        first = cli("run", "collect_facts", "--settings", settings, "--filter", "platform=eos", env={**env_without_api, **env}, timeout=400)
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"starting a lasting Prefect server on 127.0.0.1:{port}" in first.stderr
        status = cli("server", "status", env=env)
        assert f"http://127.0.0.1:{port}" in status.stdout, status.stdout + status.stderr
        pid = status.stdout.split("(pid ", 1)[1].split(";", 1)[0]
        second = cli("run", "collect_facts", "--settings", settings, "--filter", "platform=eos", env={**env_without_api, **env})
        assert second.returncode == 0, second.stdout + second.stderr
        assert "starting a lasting" not in second.stderr
        assert f"genja-prefect server, pid {pid}" in second.stdout
        assert f"http://127.0.0.1:{port}/runs/flow-run/" in second.stdout
    finally:
        stopped = cli("server", "stop", env=env)
    assert stopped.returncode == 0 and "stopped the Prefect server" in stopped.stdout, stopped.stdout + stopped.stderr
    from genja_prefect.processes import pid_alive

    assert not pid_alive(int(pid))


def _cli_at_a_terminal(*args: str, env: dict[str, str], timeout: float = 400) -> tuple[int, str, str]:
    """The console script with stdin and stderr on a pseudo-terminal, as an engineer at a shell
    runs it (stdout stays a pipe, as in ``... | tee``); returns exit code, stdout, stderr."""
    import pty

    exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env}
    full_env.pop("CI", None)  # CI=true means "not interactive"
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([exe, *args], stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
                                env=full_env, text=True)
        os.close(terminal)
        terminal = -1
        chunks: list[bytes] = []
        import threading

        def drain() -> None:  # the terminal's output, read as it comes (a full pty would block the CLI)
            while True:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the last writer closed it
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        out, _ = proc.communicate(timeout=timeout)
        reader.join(timeout=30)
        return proc.returncode, out, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)


def test_at_a_terminal_the_first_run_starts_a_server_that_stops_when_idle(lab: Any, tmp_path: Path) -> None:
    """The default, ``prefect.server: auto``, at a terminal: the first run starts the lasting
    server and says so, the next run uses it, and once nothing has used it for
    ``server_idle_stop_min`` it stops by itself (process and state file gone). The same run
    without a terminal (cron, scripts) leaves nothing running: see ``test_cli.py``."""
    from genja_prefect.ports import free_listen_port
    from genja_prefect.processes import pid_alive
    from tests.flows.prefect_server import processes_where

    port = free_listen_port()
    home = tmp_path / "home"
    env = {
        "PREFECT_HOME": str(home),
        "GENJA_PREFECT_PREFECT__SERVER_PORT": str(port),
        "GENJA_PREFECT_PREFECT__SERVER_IDLE_STOP_MIN": "0.5",  # 30 s, measured from the end of the last run
        **{k: "" for k in os.environ if k.startswith("PREFECT_API")},
    }
    settings = str(Path(lab.directory) / "settings.yaml")
    marker = f"PREFECT_HOME={home}".encode()
    try:
        code, out, err = _cli_at_a_terminal("run", "collect_facts", "--settings", settings, "--filter", "platform=eos", env=env)
        assert code == 0, out + err
        assert f"starting a lasting Prefect server on 127.0.0.1:{port}" in err, err
        assert "it stops after 0.5 min without a run" in err, err
        status = cli("server", "status", env=env)
        log = home / "genja-prefect-server.log"
        assert f"http://127.0.0.1:{port}" in status.stdout, "\n".join([
            status.stdout + status.stderr, "the run:", out + err,
            "the server's log (tail):", log.read_text(errors="replace")[-3000:] if log.exists() else "none"])
        pid = int(status.stdout.split("(pid ", 1)[1].split(";", 1)[0])
        assert "stops after 0.5 min without a run" in status.stdout, status.stdout
        code, out, err = _cli_at_a_terminal("run", "collect_facts", "--settings", settings, "--filter", "platform=eos", env=env)
        assert code == 0, out + err
        assert "starting a lasting" not in err, err
        assert f"genja-prefect server, pid {pid}" in out and f"http://127.0.0.1:{port}/runs/flow-run/" in out, out
        # Idle from here on: the keeper stops the server by itself (bounded wait, generous under load).
        deadline = time.monotonic() + 240
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not pid_alive(pid), "the idle server did not stop by itself within 240 s"
        assert "no genja-prefect server running" in cli("server", "status", env=env).stdout
        assert not (home / "genja-prefect-server.json").exists()
        assert "no run used it for 0.5 min" in (home / "genja-prefect-server.log").read_text()
        # the server's processes (prefect server start and its uvicorn) went with the keeper
        deadline = time.monotonic() + 60
        while processes_where(lambda environ: marker in environ) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_where(lambda environ: marker in environ) == []
    finally:
        cli("server", "stop", env=env)


def test_progress_bar_shows_the_host_total_for_ready_made_jobs(lab: Any) -> None:
    """On a terminal, a ready-made job's live bar counts hosts done out of the selected total."""
    import pty
    import select

    exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
    settings = str(Path(lab.directory) / "settings.yaml")
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "120"}
    child = subprocess.Popen([exe, "run", "collect_facts", "--settings", settings, "--filter", "platform=ios", "--no-prefect"],
                             stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 300)
            if not ready:
                break
            try:
                data = os.read(controller, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        child.wait(timeout=300)
        os.close(controller)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert child.returncode == 0, screen[-3000:]
    assert "3/3" in screen, screen[-3000:]  # ios1, sim-ios1, sim-ios2 of 3 selected

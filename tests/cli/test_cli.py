"""The `genja-prefect` command, through its real console-script entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


@pytest.fixture
def api_env(prefect_api: str) -> dict[str, str]:
    return {"PREFECT_API_URL": prefect_api}


def test_plugins_list_shows_installed_plugins() -> None:
    out = cli("plugins", "list")
    assert out.returncode == 0, out.stderr
    for name in ("scrapli", "ncclient", "restconf", "threaded", "serial"):
        assert name in out.stdout


def test_inventory_list_and_show_masks_password(lab: Any, lab_password: str) -> None:
    settings = str(Path(lab.directory) / "settings.yaml")
    listed = cli("inventory", "list", "--settings", settings, "--filter", "platform=ios")
    assert listed.returncode == 0, listed.stderr
    assert "ios1" in listed.stdout and "eos1" not in listed.stdout
    shown = cli("inventory", "show", "ios1", "--settings", settings)
    assert shown.returncode == 0, shown.stderr
    assert '"password": "***"' in shown.stdout and lab_password not in shown.stdout + shown.stderr
    assert '"scrapli"' in shown.stdout


def test_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("r1:\n  prot: 22\n")
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml}\n")
    out = cli("inventory", "list", "--settings", str(tmp_path / "settings.yaml"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "hosts.yaml (line 2): host 'r1': key 'prot'" in lines[0]
    assert lines[1].startswith("hint: ") and "Traceback" not in out.stderr
    missing = cli("run", "collect_facts", "--settings", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "settings file not found" in missing.stderr
    debug = cli("--debug", "inventory", "list", "--settings", str(tmp_path / "settings.yaml"))
    assert "Traceback" in debug.stderr


def test_run_task_class_json_and_exit_codes(lab: Any, lab_password: str, tmp_path: Path, api_env: dict[str, str]) -> None:
    settings = Path(lab.directory) / "settings.yaml"
    ok = cli("run", "tests.cli.tasks:ShowVersion", "--settings", str(settings), "--filter", "platform=ios", "--json", env=api_env)
    assert ok.returncode == 0, ok.stderr
    tree = json.loads(ok.stdout)
    assert tree["task_name"] == "show_version" and tree["hosts"]["ios1"]["status"] == "passed"
    assert set(tree["hosts"]) == {"ios1", "sim-ios1", "sim-ios2"}

    # a copy of the lab inventory where one host has a wrong password: exit code 1, table output
    for name in ("groups.yaml", "defaults.yaml", "settings.yaml"):
        shutil.copy(Path(lab.directory) / name, tmp_path / name)
    hosts = yaml.safe_load((Path(lab.directory) / "hosts.yaml").read_text())
    hosts["sim-ios2"]["password"] = "definitely-wrong"
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    bad = cli("run", "tests.cli.tasks:ShowVersion", "--settings", str(tmp_path / "settings.yaml"), "--filter", "platform=ios", env=api_env)
    assert bad.returncode == 1, bad.stderr
    assert "sim-ios2" in bad.stdout and "authentication" in bad.stdout
    assert lab_password not in bad.stdout + bad.stderr and "definitely-wrong" not in bad.stdout + bad.stderr


def test_run_ready_made_job(lab: Any, api_env: dict[str, str]) -> None:
    settings = Path(lab.directory) / "settings.yaml"
    out = cli("run", "collect_facts", "--settings", str(settings), "--filter", "platform=eos", "--json", env=api_env)
    assert out.returncode == 0, out.stderr
    tree = json.loads(out.stdout)
    assert tree["hosts"]["eos1"]["status"] == "passed"


def test_rerun_failed_hosts(lab: Any, tmp_path: Path, api_env: dict[str, str]) -> None:
    for name in ("groups.yaml", "defaults.yaml", "settings.yaml"):
        shutil.copy(Path(lab.directory) / name, tmp_path / name)
    hosts = yaml.safe_load((Path(lab.directory) / "hosts.yaml").read_text())
    hosts["sim-ios2"]["password"] = "wrong-for-now"
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    settings = str(tmp_path / "settings.yaml")
    first = cli("run", "tests.cli.tasks:ShowVersion", "--settings", settings, "--filter", "platform=ios", env=api_env)
    assert first.returncode == 1

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=20)
    run = next(r for r in runs if (r.parameters or {}).get("invocation", {}).get("target") == "tests.cli.tasks:ShowVersion")
    hosts["sim-ios2"].pop("password")  # fixed
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    again = cli("rerun", str(run.id), "--failed", env=api_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "show_version" in again.stdout and "│ 1" in again.stdout.replace("┃", "│")


def test_lab_up_status_down(tmp_path: Path) -> None:
    directory = tmp_path / "lab"
    up = cli("lab", "up", "--dir", str(directory), "--ios", "0", "--eos", "0", "--junos", "0", "--sim", "2", "--netconf", "0", "--http", "0")
    try:
        assert up.returncode == 0, up.stderr
        assert (directory / "settings.yaml").exists()
        status = cli("lab", "status", "--dir", str(directory))
        assert status.returncode == 0 and "sim-ios1" in status.stdout and "127.0.0.1:" in status.stdout
    finally:
        down = cli("lab", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "no lab running" in cli("lab", "status", "--dir", str(directory)).stdout


HIDE_SCRAPLI = """
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] == 'scrapli' else real(name, *a)
from genja_prefect.cli.main import main
code = main(sys.argv[1:])
print('prefect imported' if 'prefect' in sys.modules else 'prefect not imported')
sys.exit(code)
"""


def test_a_missing_extra_is_named_before_anything_starts(tmp_path: Path) -> None:
    # The device libraries are imported when a host connects, inside the run; the command
    # checks the extra first, so a base install never starts a temporary Prefect server for it.
    (tmp_path / "hosts.yaml").write_text("r1:\n  hostname: 192.0.2.1\n  platform: ios\n")
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", HIDE_SCRAPLI, "run", "collect_facts", "--settings", "settings.yaml"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines() == [
        "error: install genja-prefect[devices] to run collect_facts (missing Python package 'scrapli')",
        "hint: pip install 'genja-prefect[devices]'",
    ]
    assert "prefect not imported" in out.stdout


REPORT_PREFECT_IMPORT = """
import sys
from genja_prefect.cli.main import main
code = main(sys.argv[1:])
print('prefect imported' if 'prefect' in sys.modules else 'prefect not imported', file=sys.stderr)
sys.exit(code)
"""


def test_a_job_recorded_into_a_server_does_not_wait_for_prefects_import(
    lab: Any, tmp_path: Path, api_env: dict[str, str]
) -> None:
    # Issue 15: with PREFECT_API_URL set, the whole record (flow run, subflow, a task run per
    # host, artifacts) goes as plain HTTP; importing Prefect (a second or two) is not needed.
    # A failed host's reason line is logged through Prefect's log handler, which imports
    # Prefect then, in that host's thread (one thread at a time: api.import_prefect).
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId, LogFilter, LogFilterFlowRunId

    for name in ("groups.yaml", "defaults.yaml", "settings.yaml"):
        shutil.copy(Path(lab.directory) / name, tmp_path / name)
    hosts = yaml.safe_load((Path(lab.directory) / "hosts.yaml").read_text())
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}, **api_env, "PYTHONPATH": str(ROOT)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", REPORT_PREFECT_IMPORT, "run", "collect_facts", "--settings", "settings.yaml", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    ok = run("--filter", "platform=ios")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "prefect not imported" in ok.stderr
    run_id = ok.stdout.split("Flow run ", 1)[1].split()[0]

    hosts["sim-ios2"]["password"] = "definitely-wrong"
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    bad = run("--filter", "platform=ios")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    bad_id = bad.stdout.split("Flow run ", 1)[1].split()[0]
    assert "prefect imported" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr

    with get_client(sync_client=True) as client:
        for flow_run_id, failed in ((run_id, set()), (bad_id, {"sim-ios2"})):
            flow_run = client.read_flow_run(flow_run_id)
            assert flow_run.state is not None
            assert flow_run.state.type.value == ("FAILED" if failed else "COMPLETED"), flow_run.state
            assert flow_run.name == "collect_facts platform=ios (3 hosts)"
            assert flow_run.parameters["filter"] == {"platform": "ios"}
            subflows = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id]))
            )
            assert [s.name for s in subflows] == ["collect_facts (3 hosts)"]
            task_runs = {t.name: t for t in client.read_task_runs() if t.flow_run_id == subflows[0].id}
            assert sorted(task_runs) == ["collect_facts@ios1", "collect_facts@sim-ios1", "collect_facts@sim-ios2"]
            for name, task_run in task_runs.items():
                assert task_run.state is not None
                assert task_run.state.type.value == ("FAILED" if name.split("@")[1] in failed else "COMPLETED"), name
            keys = {a.key for a in client.read_artifacts() if a.flow_run_id in (flow_run.id, subflows[0].id)}
            assert {"genja-facts", "genja-collect-facts", "genja-collect-facts-summary"} <= keys
        # the failed host's reason, on its task run and on the subflow run's Logs tab
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[subflows[0].id])))
        lines = [(str(log.task_run_id), log.message) for log in logs]
        assert any(
            task_run == str(task_runs["collect_facts@sim-ios2"].id) and message.startswith("sim-ios2: authentication")
            for task_run, message in lines
        ), lines
        # and on the job's own flow run's Logs tab: the counts, the failed host's reason, the verdict
        job_logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        job_lines = [(log.level, log.message) for log in job_logs]
        assert (20, "collect_facts: 2 passed, 1 failed, 0 skipped of 3 hosts") in job_lines, job_lines
        assert any(level == 40 and message.startswith("collect_facts: sim-ios2: authentication failed")
                   for level, message in job_lines), job_lines
        assert (40, "run failed: 1 of 3 hosts failed: sim-ios2") in job_lines, job_lines

"""lab_up / lab_status / lab_down: a detached lab process, and nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from scrapli import AuthOptions, Cli

from genja_prefect.lab.background import LOG_FILE, STATE_FILE, lab_down, lab_status, lab_up
from genja_prefect.lab.errors import LabStartError, LabStateError
from genja_prefect.lab.ports import port_accepts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def _lab_processes(directory: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"genja_prefect.lab" in cmdline and str(directory).encode() in cmdline:
                pids.append(int(proc.name))
    return pids


def test_lab_up_status_down_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "quickstart"
    status = lab_up(directory, ios=1, sim=1, netconf=1, http=1, password="up-pw")
    try:
        assert status.running and status.pid is not None
        assert {h.name for h in status.hosts} == {"ios1", "sim-ios1", "netconf1", "api1"}
        for name in ("hosts.yaml", "groups.yaml", "defaults.yaml", "settings.yaml", STATE_FILE):
            assert (directory / name).exists()
        state = json.loads((directory / STATE_FILE).read_text())
        assert state["pid"] == status.pid
        assert "up-pw" not in (directory / STATE_FILE).read_text()
        assert "up-pw" not in (directory / LOG_FILE).read_text()
        assert lab_status(directory).running

        hosts = yaml.safe_load((directory / "hosts.yaml").read_text())
        with Cli(
            "127.0.0.1",
            port=hosts["sim-ios1"]["port"],
            definition_file_or_name="cisco_iosxe",
            auth_options=AuthOptions(username="admin", password="up-pw"),
        ) as conn:
            assert "Cisco IOS XE" in conn.send_input("show version").result

        with pytest.raises(LabStateError, match="already running"):
            lab_up(directory, sim=1)
    finally:
        lab_down(directory)
    assert not _alive(status.pid)
    assert not _lab_processes(directory)
    assert not (directory / STATE_FILE).exists()
    assert not lab_status(directory).running
    assert not any(port_accepts(h.port) for h in status.hosts)


def test_lab_up_failure_reports_the_log_and_leaves_no_process(tmp_path: Path) -> None:
    with pytest.raises(LabStartError, match="device counts must be >= 0"):
        lab_up(tmp_path, sim=-1)
    assert not _lab_processes(tmp_path)
    assert not lab_status(tmp_path).running


def test_lab_down_without_a_lab_is_harmless(tmp_path: Path) -> None:
    assert not lab_down(tmp_path).running

"""backup_configs against the lab: files per host, diffs, changed flags, junos, git."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect_flows import BackupConfig, DeployConfig, commit_backups


def test_backup_writes_one_file_per_host(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], tmp_path: Path
) -> None:
    genja = plain_runtime(lab_settings, groups__contains="lab_ssh")
    results = genja.run_task(BackupConfig(tmp_path))
    for host_id in ("ios1", "eos1", "sim-ios1", "sim-eos1"):
        entry = results[host_id]
        assert entry.status == "passed", entry
        assert entry.changed and entry.result["first_backup"] and entry.diff is None
        text = (tmp_path / f"{host_id}.cfg").read_text()
        assert text == Path(entry.result["path"]).read_text()
        assert "Current configuration" not in text  # volatile header stripped
    assert "hostname sim-ios1" in (tmp_path / "sim-ios1.cfg").read_text()
    assert "interface Ethernet1" in (tmp_path / "eos1.cfg").read_text()
    # fakenos junos knows no "show configuration": a clear command failure, no file
    junos = results["junos1"]
    assert junos.status == "failed" and junos.kind.value == "command"
    assert "show configuration" in junos.message and not (tmp_path / "junos1.cfg").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files

    again = genja.run_task(BackupConfig(tmp_path))
    assert not again["sim-ios1"].changed and again["sim-ios1"].summary == "unchanged since the last backup"


def test_changed_config_gives_a_diff_with_secrets_masked(
    sim_lab: Callable[..., Any], plain_runtime: Callable[..., genja_lib.Genja], tmp_path: Path
) -> None:
    lab = sim_lab(ios=1, eos=1)
    genja = plain_runtime(str(Path(lab.directory) / "settings.yaml"))
    first = genja.run_task(BackupConfig(tmp_path))
    assert first.failed_hosts == []
    change = "ntp server 192.0.2.77\nsnmp-server community n0tpublic RO\n"
    applied = genja.filter(name="sim-eos1").run_task(DeployConfig(change, apply=True, verify=False))
    assert applied["sim-eos1"].changed, applied["sim-eos1"]
    second = genja.run_task(BackupConfig(tmp_path))
    eos, ios = second["sim-eos1"], second["sim-ios1"]
    assert eos.changed and not ios.changed
    assert "+ntp server 192.0.2.77" in eos.diff.splitlines()
    assert "n0tpublic" not in eos.diff and "<removed>" in eos.diff
    assert "n0tpublic" in (tmp_path / "sim-eos1.cfg").read_text()  # the file keeps the device text
    assert eos.summary.startswith("config changed")


def test_junos_command_can_be_overridden(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], tmp_path: Path
) -> None:
    # fakenos junos has no config command; "show version" stands in to show the override.
    results = plain_runtime(lab_settings, name="junos1").run_task(
        BackupConfig(tmp_path, commands={"junos": "show version"})
    )
    assert results["junos1"].status == "passed"
    assert "Model: ex4550-32f" in (tmp_path / "junos1.cfg").read_text()


def test_unsupported_platform_is_skipped(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], tmp_path: Path
) -> None:
    results = plain_runtime(lab_settings, name="netconf1").run_task(BackupConfig(tmp_path))
    assert results["netconf1"].status == "skipped" and "commands=" in results["netconf1"].message


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_backup_directory_as_git_repo(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], tmp_path: Path
) -> None:
    genja = plain_runtime(lab_settings, platform="eos", groups__contains="lab_sim")
    genja.run_task(BackupConfig(tmp_path))
    sha = commit_backups(tmp_path, "nightly")
    files = subprocess.run(["git", "ls-files"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert sha and files.split() == [".gitignore", "sim-eos1.cfg"]
    # The configs and the git objects holding them: owner-only (tmp_path itself is the backup dir).
    shared = [p for p in [tmp_path, *tmp_path.rglob("*")] if not p.is_symlink() and p.lstat().st_mode & 0o077]
    assert shared == []

"""Unit tests: atomic backup writes (never a half file) and the git commit of a backup directory."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from genja_prefect_flows import backup as backup_module
from genja_prefect_flows.backup import atomic_write, backup_path
from genja_prefect_flows.gitrepo import AUTHOR_EMAIL, AUTHOR_NAME, commit_backups, private_dir


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "r1.cfg"
    atomic_write(target, "hostname r1\n")
    atomic_write(target, "hostname r1\nntp server 192.0.2.1\n")
    assert target.read_text() == "hostname r1\nntp server 192.0.2.1\n"
    assert _leftovers(tmp_path) == []
    assert (target.stat().st_mode & 0o777) == 0o600  # configs carry password hashes


def test_failure_mid_write_keeps_the_previous_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r1.cfg"
    atomic_write(target, "hostname r1\nversion 1\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    # The new text is already in the temporary file when the flush to disk fails.
    monkeypatch.setattr(backup_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, "hostname r1\nversion 2 (never complete)\n")
    assert target.read_text() == "hostname r1\nversion 1\n"
    assert _leftovers(tmp_path) == []


def test_failure_during_rename_keeps_the_previous_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r1.cfg"
    atomic_write(target, "old\n")
    seen: list[str] = []

    def broken_replace(src: str, dst: object) -> None:
        seen.append(Path(src).read_text())  # the complete new text sits next to the target
        raise KeyboardInterrupt  # even an interrupt cleans up

    monkeypatch.setattr(backup_module.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new\n")
    assert seen == ["new\n"]
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_backup_path_is_safe(tmp_path: Path) -> None:
    assert backup_path(tmp_path, "sim-ios1") == tmp_path / "sim-ios1.cfg"
    assert backup_path(tmp_path, "../etc/passwd").parent == tmp_path
    assert backup_path(tmp_path, "a/b c").name == "a_b_c.cfg"


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=True).stdout


@needs_git
def test_commit_backups_inits_commits_and_skips_when_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No git identity anywhere: commits must still work, with the explicit author.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    backups = tmp_path / "backups"
    backups.mkdir()
    atomic_write(backups / "r1.cfg", "hostname r1\n")
    first = commit_backups(backups, "first")
    assert first is not None and len(first) == 40
    assert _git(backups, "log", "-1", "--format=%an <%ae>|%cn|%s").strip() == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>|{AUTHOR_NAME}|first"
    assert commit_backups(backups, "nothing new") is None
    atomic_write(backups / "r1.cfg", "hostname r1\nntp server 192.0.2.1\n")
    second = commit_backups(backups, "second")
    assert second not in (None, first)
    assert _git(backups, "show", "--stat", "--format=", "HEAD").strip().startswith("r1.cfg")
    assert ".gitignore" in os.listdir(backups)


def test_commit_without_git_warns_and_returns_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("genja_prefect_flows.gitrepo.shutil.which", lambda name: None)
    assert commit_backups(tmp_path, "x") is None
    assert "git is not installed" in caplog.text


def _group_or_other_access(directory: Path) -> list[str]:
    """Paths below ``directory`` (itself included) that group or others may read, write or enter."""
    found = []
    for path in [directory, *directory.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(directory)}")
    return found


@needs_git
def test_backup_directory_and_git_objects_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The least private setup a machine may have: umask 022 and a global git config sharing
    # every repository with all users. The backups must be owner-only all the same.
    global_config = tmp_path / "gitconfig"
    global_config.write_text("[core]\n\tsharedRepository = all\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    old_umask = os.umask(0o022)
    try:
        backups = private_dir(tmp_path / "data" / "backups")
        atomic_write(backups / "r1.cfg", "hostname r1\nsnmp-server community s3cret RO\n")
        assert commit_backups(backups, "first")
        atomic_write(backups / "r1.cfg", "hostname r1\nsnmp-server community n3w RO\n")
        assert commit_backups(backups, "second")
    finally:
        os.umask(old_umask)
    objects = [p for p in (backups / ".git" / "objects").rglob("*") if p.is_file()]
    assert len(objects) >= 6  # two commits, two trees, three blobs (.gitignore, r1.cfg twice)
    assert _group_or_other_access(backups) == []
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert stat.S_IMODE((backups / "r1.cfg").stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in objects if p.parent.name != "pack"} <= {0o400, 0o600}
    assert _git(backups, "config", "core.sharedRepository").strip() == "false"


@needs_git
def test_commit_makes_an_older_shared_backup_repository_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A backup directory from before this rule: world-readable files, folders and git objects.
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o755)
    backups.chmod(0o755)
    (backups / "r1.cfg").write_text("hostname r1\n")
    (backups / "r1.cfg").chmod(0o644)
    subprocess.run(["git", "init", "-q", "--shared=all"], cwd=backups, check=True)
    subprocess.run(["git", "add", "-A"], cwd=backups, check=True)
    assert _group_or_other_access(backups)
    atomic_write(backups / "r2.cfg", "hostname r2\n")
    assert commit_backups(backups, "after the upgrade")
    assert _group_or_other_access(backups) == []

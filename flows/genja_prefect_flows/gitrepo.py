"""Keep a backup directory as a git repository: ``git init`` once, then one commit per run.

Runs the ``git`` program (no Python git library) with the author and committer set
explicitly, so commits work on machines without a git identity and never pick up a user's
signing or hook settings from the command line. Example::

    from genja_prefect_flows.gitrepo import commit_backups

    sha = commit_backups("backups", "nightly backup")   # None: nothing changed or no git
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["AUTHOR_EMAIL", "AUTHOR_NAME", "BackupGitError", "commit_backups", "git_available"]

logger = logging.getLogger("genja_prefect_flows.git")

AUTHOR_NAME = "genja-prefect"
AUTHOR_EMAIL = "genja-prefect@localhost"
_TIMEOUT_S = 60


class BackupGitError(RuntimeError):
    """A git command failed; the message names the command, the directory and git's output."""


def git_available() -> bool:
    """True when a ``git`` executable is on PATH."""
    return shutil.which("git") is not None


def _git(directory: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_TERMINAL_PROMPT": "0",
    }
    command = [
        "git",
        "-c", "commit.gpgsign=false",
        "-c", "core.hooksPath=/dev/null",
        "-c", "init.defaultBranch=main",
        *args,
    ]
    try:
        done = subprocess.run(
            command, cwd=directory, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupGitError(f"`git {' '.join(args)}` in {directory} took over {_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BackupGitError(f"`git {' '.join(args)}` in {directory} failed ({done.returncode}): {output}")
    return done.stdout


def commit_backups(backup_dir: str | os.PathLike[str], message: str = "genja-prefect backup") -> str | None:
    """Commit everything in ``backup_dir``; returns the new commit id, or ``None`` when nothing
    changed or git is not installed (then a warning is logged). Raises :class:`BackupGitError`
    when a git command fails."""
    if not git_available():
        logger.warning("git is not installed: backups in %s were written but not committed", backup_dir)
        return None
    directory = Path(backup_dir).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / ".git").exists():
        _git(directory, "init", "--quiet")
        ignore = directory / ".gitignore"
        if not ignore.exists():
            # Temporary files of an interrupted atomic write must never be committed.
            ignore.write_text(".*.tmp\n", encoding="utf-8")
    _git(directory, "add", "--all", ".")
    if not _git(directory, "status", "--porcelain").strip():
        return None
    _git(directory, "commit", "--quiet", "--no-verify", "-m", message)
    return _git(directory, "rev-parse", "HEAD").strip()

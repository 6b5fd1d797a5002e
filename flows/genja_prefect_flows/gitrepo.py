"""Keep a backup directory as a git repository: ``git init`` once, then one commit per run.

Runs the ``git`` program (no Python git library) with the author and committer set
explicitly, so commits work on machines without a git identity and never pick up a user's
signing or hook settings from the command line. Example::

    from genja_prefect_flows.gitrepo import commit_backups

    sha = commit_backups("backups", "nightly backup")   # None: nothing changed or no git

The repository holds the same configs as the files (password hashes, SNMP communities), so it
is kept as private as they are: git runs with umask 077 and ``core.sharedRepository=false``
(objects 0400, folders 0700), and after every commit anything in the directory that group or
others could read is made owner-only (:func:`make_private`, which also repairs a repository
made before this rule).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

from genja_prefect.errors import GenjaError

__all__ = [
    "AUTHOR_EMAIL", "AUTHOR_NAME", "BackupGitError", "commit_backups", "git_available", "make_private", "private_dir",
]

logger = logging.getLogger("genja_prefect_flows.git")

AUTHOR_NAME = "genja-prefect"
AUTHOR_EMAIL = "genja-prefect@localhost"
_TIMEOUT_S = 60
# Owner only: new files 0600 / git objects 0400, new folders 0700.
PRIVATE_UMASK = 0o077


class BackupGitError(GenjaError, RuntimeError):
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
        # A user's `core.sharedRepository = group` (or all) would make objects group-readable.
        "-c", "core.sharedRepository=false",
        *args,
    ]
    try:
        done = subprocess.run(
            command, cwd=directory, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False,
            umask=PRIVATE_UMASK,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupGitError(f"`git {' '.join(args)}` in {directory} took over {_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BackupGitError(f"`git {' '.join(args)}` in {directory} failed ({done.returncode}): {output}")
    return done.stdout


def private_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` (and missing parents) and make it owner-only (0700); returns it."""
    path = Path(directory).absolute()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def make_private(directory: str | os.PathLike[str]) -> None:
    """Remove every group/other permission below ``directory`` (itself included): files,
    folders and git objects. Symlinks are not followed; entries of another owner are left
    (chmod is not allowed on them) and logged."""
    root = Path(directory)
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                path.chmod(stat.S_IMODE(st.st_mode) & 0o700)
        except OSError as exc:
            logger.warning("cannot make %s owner-only: %s", path, exc)


def commit_backups(backup_dir: str | os.PathLike[str], message: str = "genja-prefect backup") -> str | None:
    """Commit everything in ``backup_dir``; returns the new commit id, or ``None`` when nothing
    changed or git is not installed (then a warning is logged). Raises :class:`BackupGitError`
    when a git command fails."""
    if not git_available():
        logger.warning("git is not installed: backups in %s were written but not committed", backup_dir)
        return None
    directory = private_dir(backup_dir)
    try:
        if not (directory / ".git").exists():
            _git(directory, "init", "--quiet")
            ignore = directory / ".gitignore"
            if not ignore.exists():
                # Temporary files of an interrupted atomic write must never be committed.
                ignore.write_text(".*.tmp\n", encoding="utf-8")
                ignore.chmod(0o600)
        # In the repository's own config too, for the git commands a user runs there (also
        # turns off a `--shared` setting of a repository made before this rule).
        _git(directory, "config", "core.sharedRepository", "false")
        _git(directory, "add", "--all", ".")
        if not _git(directory, "status", "--porcelain").strip():
            return None
        _git(directory, "commit", "--quiet", "--no-verify", "-m", message)
        return _git(directory, "rev-parse", "HEAD").strip()
    finally:
        make_private(directory)

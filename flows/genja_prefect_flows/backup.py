"""Back up running configs: one file per host, written atomically, diffed against the last one.

As a genja task::

    import genja_prefect as genja_lib
    from genja_prefect_flows import BackupConfig, commit_backups

    genja = genja_lib.Genja.from_settings_file("lab/settings.yaml").filter(platform="eos")
    results = genja.run_task(BackupConfig("backups"))
    print(results["eos1"].changed, results["eos1"].diff)
    commit_backups("backups")          # optional: a git commit of the directory

As a Prefect flow::

    from genja_prefect_flows import backup_configs

    tree = backup_configs(settings="lab/settings.yaml", backup_dir="backups", git=True)

Files are ``<backup_dir>/<host>.cfg``, readable by their owner only (configs carry password
hashes): the directory is 0700, files 0600, and with ``git=True`` its repository is owner-only
too (see :mod:`genja_prefect_flows.gitrepo`). Each is written to a temporary file in the same directory, flushed to disk and renamed
over the old one, so a reader (or a crash) never sees half a file. Diffs in results and
artifacts have passwords, secrets and SNMP communities masked; the files keep the device text.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import (
    RUNNING_CONFIG_COMMANDS,
    build_runtime,
    finish_job,
    publish_markdown,
    results_payload,
    run_command,
    run_logger,
)
from genja_prefect_flows.configtext import mask_secrets, strip_volatile, unified_diff
from genja_prefect_flows.gitrepo import BackupGitError, commit_backups, git_available, private_dir

__all__ = ["BackupConfig", "BackupGitError", "atomic_write", "backup_configs", "backup_configs_job", "backup_path", "commit_backups"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def backup_path(backup_dir: str | os.PathLike[str], host_id: str) -> Path:
    """Where the backup of ``host_id`` lives: ``<backup_dir>/<host_id>.cfg`` (unsafe characters
    replaced by ``_``)."""
    name = _UNSAFE.sub("_", host_id).lstrip(".") or "_"
    return Path(backup_dir) / f"{name}.cfg"


def atomic_write(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``text`` all at once: a temporary file in the same directory is
    written, flushed to disk and renamed over ``path``. On any error the temporary file is
    removed and ``path`` keeps its previous content."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform/filesystem.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@task(name="backup_config")
class BackupConfig:
    """Save the host's running config to ``<backup_dir>/<host>.cfg``.

    The command comes from ``commands`` (platform -> command), then
    :data:`~genja_prefect_flows.common.RUNNING_CONFIG_COMMANDS` (``show running-config``;
    ``show configuration`` on Junos). Lines that change on every read (``Current configuration :
    N bytes``, timestamps) are dropped unless ``strip_volatile=False``. The result has
    ``changed=True`` when the config differs from the previous backup, the unified ``diff``
    (secrets masked; none for a host's first backup) and ``result`` with ``path``, ``bytes``,
    ``sha256`` and ``first_backup``.
    """

    connection_plugin = "scrapli"

    def __init__(
        self,
        backup_dir: str | os.PathLike[str] = "backups",
        *,
        commands: Mapping[str, str] | None = None,
        strip_volatile: bool = True,
    ) -> None:
        self.backup_dir = Path(backup_dir).absolute()
        self.commands = {**RUNNING_CONFIG_COMMANDS, **dict(commands or {})}
        self.strip_volatile = strip_volatile

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        command = self.commands.get(host.platform or "")
        if command is None:
            return TaskSkipResult(
                reason="unsupported_platform",
                message=f"no running-config command for platform {host.platform!r}; "
                f"known: {sorted(self.commands)} (pass commands={{...}} to add one)",
            )
        text = run_command(context.get_connection(self.connection_plugin), command)
        if self.strip_volatile:
            text = strip_volatile(text)
        if not text.strip():
            return TaskFailureResult(
                message=f"{command!r} returned an empty config on {host.id}; the previous backup is kept",
                kind=TaskFailureKind.VALIDATION,
            )
        if not text.endswith("\n"):
            text += "\n"
        private_dir(self.backup_dir)
        path = backup_path(self.backup_dir, host.id)
        previous = path.read_text(encoding="utf-8") if path.exists() else None
        changed = previous != text
        if changed:
            atomic_write(path, text)
        diff = None
        if previous is not None and changed:
            diff = mask_secrets(unified_diff(previous, text, f"{host.id} (previous)", f"{host.id} (current)"))
        result = {
            "path": str(path),
            "bytes": len(text.encode("utf-8")),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "first_backup": previous is None,
        }
        if previous is None:
            summary = f"first backup: {result['bytes']} bytes"
        elif changed:
            summary = f"config changed since the last backup ({_count_changes(diff)} lines)"
        else:
            summary = "unchanged since the last backup"
        return TaskSuccessResult(result=result, changed=changed, diff=diff, summary=summary,
                                 metadata={"command": command})


def _count_changes(diff: str | None) -> int:
    if not diff:
        return 0
    return sum(
        1 for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def backups_markdown(tree: dict[str, Any], commit: str | None = None) -> str:
    """A markdown report of a ``backup_configs`` result tree: changed hosts and their diffs."""
    hosts = tree.get("hosts", {})
    changed = [h for h, e in hosts.items() if e.get("changed")]
    failed = [h for h, e in hosts.items() if e.get("status") == "failed"]
    lines = ["# Config backups", "", f"- hosts: {len(hosts)}, changed: {len(changed)}, failed: {len(failed)}"]
    if commit:
        lines.append(f"- git commit: `{commit}`")
    for host_id in changed:
        entry = hosts[host_id]
        lines += ["", f"## {host_id}", "", entry.get("summary", "")]
        if entry.get("diff"):
            lines += ["", "```diff", entry["diff"].rstrip("\n"), "```"]
    for host_id in failed:
        lines += ["", f"## {host_id} (failed)", "", f"{hosts[host_id].get('kind')}: {hosts[host_id].get('message')}"]
    return "\n".join(lines)


def backup_configs_job(
    settings: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    backup_dir: str = "backups",
    git: bool = False,
    strip_volatile: bool = True,
) -> dict[str, Any]:
    """Back up the running config of every selected host into ``backup_dir``.

    One file per host (``<host>.cfg``), written atomically; each host result carries the diff
    against the previous backup and ``changed``. With ``git=True`` the directory is a git
    repository and the new state is committed (when git is installed; otherwise a warning).
    Returns the result tree and publishes a ``genja-backups`` markdown artifact of the diffs.
    """
    genja = build_runtime(settings, filter, workers, runner, job="backup_configs", needs=["scrapli"])
    results = genja.run_tasks([BackupConfig(backup_dir, strip_volatile=strip_volatile)])
    tree: dict[str, Any] = results_payload(results)
    commit = None
    log = run_logger()
    if git and not git_available():
        log.warning("git=True but git is not installed: backups in %s were written, not committed", backup_dir)
    elif git:
        hosts = tree["hosts"]
        changed = sorted(h for h, e in hosts.items() if e.get("changed"))
        message = f"genja-prefect backup: {len(changed)} of {len(hosts)} host(s) changed"
        if changed:
            message += "\n\n" + "\n".join(f"- {h}" for h in changed)
        commit = commit_backups(backup_dir, message)
        if commit:
            log.info("committed backups in %s as %s", backup_dir, commit)
        else:
            log.info("backups in %s: nothing new to commit", backup_dir)
    publish_markdown("genja-backups", backups_markdown(tree, commit), "Config backups and their diffs")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def __getattr__(name: str) -> Any:
    # The Prefect flows (``backup_configs``) are made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)

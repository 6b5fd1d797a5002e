"""The verification step of a config deploy, and what DeployConfig and VerifyConfig share:
rendering the candidate per host, reading the running config, checks, checkpoint restore.

``VerifyConfig`` reads the running config again after a change and fails (kind
``validation``) when the change is not in effect; with ``rollback=True`` it restores the
device checkpoint :class:`~genja_prefect_flows.deploy.DeployConfig` saved. Example::

    from genja_prefect_flows.verify import VerifyConfig

    check = VerifyConfig("ntp server 192.0.2.9\n", check_command="show running-config | include ntp",
                         check_regex="192.0.2.9")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from genja_prefect.connection import CommandError
from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.common import RUNNING_CONFIG_COMMANDS, run_command, run_logger
from genja_prefect_flows.configtext import mask_secrets, missing_lines
from genja_prefect_flows.remediation import MODES, plan_change
from genja_prefect_flows.rollback import Checkpoint, same_config
from genja_prefect_flows.templates import ConfigTemplate, TemplateRenderError

__all__ = [
    "CONFIG_PLATFORMS",
    "VerifyConfig",
    "as_template",
    "check_mode",
    "compile_check",
    "masked_paths",
    "quietly_run",
    "render_candidate",
    "restore_checkpoint",
    "running_config",
    "unsupported_platform",
]

#: Platforms whose config mode takes the indented line syntax this job renders and compares.
CONFIG_PLATFORMS = frozenset({"ios", "iosxe", "eos", "nxos"})


def as_template(template: ConfigTemplate | str | os.PathLike[str], variables: Mapping[str, Any] | None) -> ConfigTemplate:
    if isinstance(template, ConfigTemplate):
        if variables:
            return ConfigTemplate(template.path or template.source, {**template.variables, **variables})
        return template
    return ConfigTemplate(template, variables)


def unsupported_platform(host: Host) -> TaskSkipResult | None:
    if host.platform in CONFIG_PLATFORMS:
        return None
    return TaskSkipResult(
        reason="unsupported_platform",
        message=f"deploy_config handles platforms {sorted(CONFIG_PLATFORMS)}, not {host.platform!r}",
    )


def render_candidate(template: ConfigTemplate, host: Host) -> str | TaskFailureResult:
    try:
        return template.render(host)
    except TemplateRenderError as exc:
        return TaskFailureResult(message=str(exc), kind=TaskFailureKind.VALIDATION)


def running_config(connection: Any, host: Host) -> str:
    return run_command(connection, RUNNING_CONFIG_COMMANDS[host.platform or "ios"])


def masked_paths(missing: list[tuple[str, ...]]) -> list[str]:
    return [mask_secrets(" > ".join(path)) for path in missing]


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def compile_check(check_command: str | None, check_regex: str | None) -> re.Pattern[str] | None:
    if check_regex is None:
        return None
    if check_command is None:
        raise ValueError("check_regex: give check_command too (the command whose output it must match)")
    try:
        return re.compile(check_regex, re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"check_regex: not a regular expression ({exc}): {check_regex!r}") from None


@task(name="verify_config")
class VerifyConfig:
    """Read the running config back and fail (kind ``validation``) when a candidate line is
    missing, a ``no ...`` line is still present, or the change would still send lines; with
    ``check_command``, also when its output does not match ``check_regex`` (or the device
    rejects it). Skipped after a dry run.

    ``rollback=True`` with a ``checkpoint`` file name (made by :class:`DeployConfig` before the
    change): a failed verification restores the checkpoint (``configure replace``, NX-OS ``rollback running-config``), reads the
    running config again and reports ``details["rolled_back"]`` (True when it equals the
    checkpoint); a passed one deletes the checkpoint. See :mod:`genja_prefect_flows.rollback`.
    """

    connection_plugin = "scrapli"

    def __init__(self, template: ConfigTemplate | str | os.PathLike[str], *, applied: bool = True,
                 variables: Mapping[str, Any] | None = None, mode: str = "merge", rollback: bool = False,
                 checkpoint: str | None = None, check_command: str | None = None,
                 check_regex: str | None = None) -> None:
        self.template = as_template(template, variables)
        self.applied = applied
        self.mode = check_mode(mode)
        self.rollback = rollback
        self.checkpoint = checkpoint
        self.check_command = check_command
        self.check_regex = check_regex
        self._pattern = compile_check(check_command, check_regex)

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        if not self.applied:
            return TaskSkipResult(reason="dry_run", message="nothing was applied, so there is nothing to verify")
        unsupported = unsupported_platform(host)
        if unsupported is not None:
            return unsupported
        candidate = render_candidate(self.template, host)
        if isinstance(candidate, TaskFailureResult):
            return candidate
        connection = context.get_connection(self.connection_plugin)
        running = running_config(connection, host)
        missing = missing_lines(running, candidate)
        # The same comparison as the dry run: after a good apply nothing is left to send.
        remaining = [mask_secrets(line) for line in plan_change(host.platform, running, candidate, self.mode).lines]
        problems: list[str] = []
        if missing or remaining:
            what = masked_paths(missing) or remaining
            problems.append(f"{len(what)} candidate line(s) not in effect in the running config of {host.id}: "
                            + "; ".join(what[:5]))
        check = self._check(connection, host)
        if check is not None:
            problems.append(check)
        checkpoint = Checkpoint.for_platform(host.platform, self.checkpoint) if self.rollback and self.checkpoint else None
        details: dict[str, Any] = {"missing": masked_paths(missing), "remaining": remaining, "mode": self.mode,
                                   "rolled_back": False}
        if problems:
            message = "; ".join(problems)
            if checkpoint is not None:
                restored, note = restore_checkpoint(connection, host, checkpoint)
                details["rolled_back"] = restored
                message += f"; {note}"
            return TaskFailureResult(message=mask_secrets(message), kind=TaskFailureKind.VALIDATION, details=details)
        if checkpoint is not None:
            quietly_run(connection, checkpoint.delete_command)
        return TaskSuccessResult(summary=f"running config matches the candidate ({self.mode})"
                                 + (", check passed" if self.check_command else ""),
                                 result={"missing": [], "remaining": [], "mode": self.mode, "rolled_back": False})

    def _check(self, connection: Any, host: Host) -> str | None:
        """The user's check command: None when it passed, else what went wrong."""
        if self.check_command is None:
            return None
        try:
            output = run_command(connection, self.check_command)
        except CommandError as exc:
            return f"check command failed on {host.id}: {exc}"
        if self._pattern is not None and not self._pattern.search(output):
            return f"check {self.check_command!r} on {host.id}: output does not match {self.check_regex!r}"
        return None


def restore_checkpoint(connection: Any, host: Host, checkpoint: Checkpoint) -> tuple[bool, str]:
    """Put the checkpoint back; (restored?, what to tell the user)."""
    try:
        saved = checkpoint.saved_config(run_command(connection, checkpoint.show_command))
        run_command(connection, checkpoint.restore_command)
        now = running_config(connection, host)
    except CommandError as exc:
        return False, f"ROLLBACK FAILED ({mask_secrets(str(exc))}): check {host.id} by hand"
    if not same_config(host.platform, now, saved):
        return False, f"ROLLBACK INCOMPLETE: the running config of {host.id} differs from {checkpoint.where}"
    quietly_run(connection, checkpoint.delete_command)
    return True, "rolled back: the running config is the pre-change checkpoint again"


def quietly_run(connection: Any, command: str) -> None:
    """Clean-up (deleting a checkpoint): its failure must not change the verdict."""
    try:
        run_command(connection, command)
    except CommandError as exc:
        run_logger().warning("%s", mask_secrets(f"{command!r} failed: {exc}"))

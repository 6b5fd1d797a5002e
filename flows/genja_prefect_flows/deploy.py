"""Deploy config lines rendered from a Jinja2 template: dry-run diff by default, apply on request,
then verify by reading the running config back.

As genja tasks::

    import genja_prefect as genja_lib
    from genja_prefect_flows import DeployConfig

    genja = genja_lib.Genja.from_settings_file("lab/settings.yaml").filter(data__lab_kind="sim")
    dry = genja.run_task(DeployConfig("ntp server {{ ntp }}", variables={"ntp": "192.0.2.9"}))
    print(dry["sim-ios1"].diff)                       # what would change; nothing was sent
    done = genja.run_task(DeployConfig("ntp server {{ ntp }}", variables={"ntp": "192.0.2.9"}, apply=True))
    print(done.sub_tasks["verify_config"]["sim-ios1"].status)   # passed

As a Prefect flow::

    from genja_prefect_flows import deploy_config

    tree = deploy_config(settings="lab/settings.yaml", template="templates/ntp.j2",
                         filter={"platform": "eos"}, apply=True)
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from prefect import flow

from genja_prefect.connection import CommandError
from genja_prefect.prefect.flows import job_state
from genja_prefect.results import RunResults, TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.common import (
    RUNNING_CONFIG_COMMANDS,
    build_runtime,
    call,
    check_output,
    publish_markdown,
    results_payload,
    run_command,
    run_logger,
)
from genja_prefect_flows.configtext import mask_secrets, missing_lines
from genja_prefect_flows.remediation import MODES, ChangePlan, plan_change
from genja_prefect_flows.rollback import ROLLBACK_PLATFORMS, Checkpoint, same_config
from genja_prefect_flows.templates import ConfigTemplate, TemplateRenderError

__all__ = ["DeployConfig", "VerifyConfig", "deploy_config"]

#: Platforms whose config mode takes the indented line syntax this job renders and compares.
CONFIG_PLATFORMS = frozenset({"ios", "iosxe", "eos", "nxos"})


def _template(template: ConfigTemplate | str | os.PathLike[str], variables: Mapping[str, Any] | None) -> ConfigTemplate:
    if isinstance(template, ConfigTemplate):
        if variables:
            return ConfigTemplate(template.path or template.source, {**template.variables, **variables})
        return template
    return ConfigTemplate(template, variables)


def _unsupported(host: Host) -> TaskSkipResult | None:
    if host.platform in CONFIG_PLATFORMS:
        return None
    return TaskSkipResult(
        reason="unsupported_platform",
        message=f"deploy_config handles platforms {sorted(CONFIG_PLATFORMS)}, not {host.platform!r}",
    )


def _render(template: ConfigTemplate, host: Host) -> str | TaskFailureResult:
    try:
        return template.render(host)
    except TemplateRenderError as exc:
        return TaskFailureResult(message=str(exc), kind=TaskFailureKind.VALIDATION)


def _running_config(connection: Any, host: Host) -> str:
    return run_command(connection, RUNNING_CONFIG_COMMANDS[host.platform or "ios"])


def _paths(missing: list[tuple[str, ...]]) -> list[str]:
    return [mask_secrets(" > ".join(path)) for path in missing]


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _send(connection: Any, lines: list[str]) -> None:
    """Send the planned lines in config mode; a rejection raises CommandError with the device
    output masked (it echoes the lines, secrets included)."""
    output = call(connection, "send_config", lines)
    text = output if isinstance(output, str) else str(getattr(output, "result", output or ""))
    try:
        check_output("configuration", text, anywhere=True)
    except CommandError as exc:
        raise CommandError(mask_secrets(str(exc)), output=mask_secrets(text)) from None


def _check_regex(check_command: str | None, check_regex: str | None) -> re.Pattern[str] | None:
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
    change): a failed verification restores the checkpoint (``configure replace``), reads the
    running config again and reports ``details["rolled_back"]`` (True when it equals the
    checkpoint); a passed one deletes the checkpoint. See :mod:`genja_prefect_flows.rollback`.
    """

    connection_plugin = "scrapli"

    def __init__(self, template: ConfigTemplate | str | os.PathLike[str], *, applied: bool = True,
                 variables: Mapping[str, Any] | None = None, mode: str = "merge", rollback: bool = False,
                 checkpoint: str | None = None, check_command: str | None = None,
                 check_regex: str | None = None) -> None:
        self.template = _template(template, variables)
        self.applied = applied
        self.mode = _check_mode(mode)
        self.rollback = rollback
        self.checkpoint = checkpoint
        self.check_command = check_command
        self.check_regex = check_regex
        self._pattern = _check_regex(check_command, check_regex)

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        if not self.applied:
            return TaskSkipResult(reason="dry_run", message="nothing was applied, so there is nothing to verify")
        unsupported = _unsupported(host)
        if unsupported is not None:
            return unsupported
        candidate = _render(self.template, host)
        if isinstance(candidate, TaskFailureResult):
            return candidate
        connection = context.get_connection(self.connection_plugin)
        running = _running_config(connection, host)
        missing = missing_lines(running, candidate)
        # The same comparison as the dry run: after a good apply nothing is left to send.
        remaining = [mask_secrets(line) for line in plan_change(host.platform, running, candidate, self.mode).lines]
        problems: list[str] = []
        if missing or remaining:
            what = _paths(missing) or remaining
            problems.append(f"{len(what)} candidate line(s) not in effect in the running config of {host.id}: "
                            + "; ".join(what[:5]))
        check = self._check(connection, host)
        if check is not None:
            problems.append(check)
        checkpoint = Checkpoint.for_platform(host.platform, self.checkpoint) if self.rollback and self.checkpoint else None
        details: dict[str, Any] = {"missing": _paths(missing), "remaining": remaining, "mode": self.mode,
                                   "rolled_back": False}
        if problems:
            message = "; ".join(problems)
            if checkpoint is not None:
                restored, note = _restore(connection, host, checkpoint)
                details["rolled_back"] = restored
                message += f"; {note}"
            return TaskFailureResult(message=mask_secrets(message), kind=TaskFailureKind.VALIDATION, details=details)
        if checkpoint is not None:
            _quietly_run(connection, checkpoint.delete_command)
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


@task(name="deploy_config")
class DeployConfig:
    """Render ``template`` per host and compare it with the running config.

    Dry run (default): the host result's ``diff`` shows what applying would change,
    ``changed=False``, nothing is sent. ``apply=True``: the missing lines' blocks are sent in
    config mode (``send_config``), ``changed=True``, and the ``verify_config`` sub-task reads the
    running config back (``verify=False`` leaves it out). A host already in line with the
    candidate is left alone (``changed=False``, no diff). ``result`` holds ``applied``,
    ``dry_run``, ``mode``, ``lines`` (what is/would be sent: the dry run's lines are exactly
    the lines an apply sends), ``rollback`` (the lines that would undo the change) and
    ``missing`` (candidate lines not yet in the running config). Secrets in diffs and lines
    are masked.

    ``mode="merge"`` (default) adds the candidate's lines, a single-value line (``description``,
    ``ip address``) replacing the old value; ``mode="replace"`` makes each section of the
    candidate (``interface Ethernet1`` and its children) exactly the candidate's, negating
    children the candidate does not list. See :mod:`genja_prefect_flows.remediation`.

    ``check_command``/``check_regex``: the verification also runs this command and requires
    the regular expression to match its output. ``rollback=True`` (ios, iosxe, eos) saves the
    running config to a checkpoint file on the device before sending (``result["checkpoint"]``);
    when the verification fails it restores it and says so (``details["rolled_back"]``). With
    ``verify=False`` the checkpoint is only saved: run :meth:`verifier` yourself (deploy_config
    does, in a second run, so the device is read in a fresh session).
    """

    connection_plugin = "scrapli"

    def __init__(
        self,
        template: ConfigTemplate | str | os.PathLike[str],
        *,
        variables: Mapping[str, Any] | None = None,
        apply: bool = False,
        verify: bool = True,
        mode: str = "merge",
        rollback: bool = False,
        check_command: str | None = None,
        check_regex: str | None = None,
        change_id: str | None = None,
    ) -> None:
        self.template = _template(template, variables)
        self.apply = apply
        self.verify = verify
        self.mode = _check_mode(mode)
        self.rollback = rollback
        self.check_command = check_command
        self.check_regex = check_regex
        _check_regex(check_command, check_regex)
        self.change_id = change_id or uuid.uuid4().hex[:12]
        if verify:
            # Sub-tasks are part of a task class's definition; this instance's verify step needs
            # this instance's template, so it gets a class of its own (pickled as DeployConfig).
            base = type(self)
            spec = dataclasses.replace(base.__genja_task__,  # type: ignore[attr-defined]
                                       sub_tasks=(self.verifier(),))
            self.__class__ = type(base.__name__, (base,), {"__genja_task__": spec, "__qualname__": base.__qualname__,
                                                           "__module__": base.__module__})

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint file this change saves before sending (``rollback=True``)."""
        return f"genja-{self.change_id}.cfg" if self.rollback else None

    def verifier(self) -> VerifyConfig:
        """The verification of this change (its sub-task; deploy_config runs it in a fresh session)."""
        return VerifyConfig(self.template, applied=self.apply, mode=self.mode, rollback=self.rollback,
                            checkpoint=self.checkpoint, check_command=self.check_command,
                            check_regex=self.check_regex)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.template, self.apply, self.verify, self.mode, self.rollback,
                           self.check_command, self.check_regex, self.change_id))

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        unsupported = _unsupported(host)
        if unsupported is not None:
            return unsupported
        candidate = _render(self.template, host)
        if isinstance(candidate, TaskFailureResult):
            return candidate
        if not missing_lines("", candidate):
            return TaskSkipResult(reason="empty_candidate", message=f"template {self.template.name} rendered no config lines")
        connection = context.get_connection(self.connection_plugin)
        running = _running_config(connection, host)
        plan = plan_change(host.platform, running, candidate, self.mode)
        result = _plan_result(plan, apply=self.apply, missing=missing_lines(running, candidate))
        if plan.empty:
            return TaskSuccessResult(result=result, summary="already in line with the candidate; nothing to send")
        diff = mask_secrets(plan.diff.replace("--- running", f"--- {host.id} running", 1)
                            .replace("+++ running", f"+++ {host.id} running", 1))
        if not self.apply:
            return TaskSuccessResult(result=result, diff=diff,
                                     summary=f"dry run ({plan.mode}): {len(plan.lines)} line(s) would be sent; nothing sent")
        if self.rollback:
            if host.platform not in ROLLBACK_PLATFORMS:
                return TaskFailureResult(
                    message=f"rollback=True: no checkpoint/restore for platform {host.platform!r} "
                    f"(implemented: {', '.join(sorted(ROLLBACK_PLATFORMS))}); nothing was sent to {host.id}",
                    kind=TaskFailureKind.VALIDATION,
                )
            checkpoint = Checkpoint.for_platform(host.platform, str(self.checkpoint))
            run_command(connection, checkpoint.save_command)
            result["checkpoint"] = checkpoint.name
        _send(connection, plan.lines)
        result["applied"] = True
        return TaskSuccessResult(result=result, changed=True, diff=diff,
                                 summary=f"applied {len(plan.lines)} line(s) ({plan.mode})")


def _plan_result(plan: ChangePlan, *, apply: bool, missing: list[tuple[str, ...]]) -> dict[str, Any]:
    return {
        "applied": False,
        "dry_run": not apply,
        "mode": plan.mode,
        "lines": [mask_secrets(line) for line in plan.lines],
        "rollback": [mask_secrets(line) for line in plan.rollback] if plan.lines else [],
        "missing": _paths(missing),
    }


def _rebuild(template: ConfigTemplate, apply: bool, verify: bool, mode: str = "merge", rollback: bool = False,
             check_command: str | None = None, check_regex: str | None = None,
             change_id: str | None = None) -> DeployConfig:
    return DeployConfig(template, apply=apply, verify=verify, mode=mode, rollback=rollback,
                        check_command=check_command, check_regex=check_regex, change_id=change_id)


def _restore(connection: Any, host: Host, checkpoint: Checkpoint) -> tuple[bool, str]:
    """Put the checkpoint back; (restored?, what to tell the user)."""
    try:
        saved = run_command(connection, checkpoint.show_command)
        run_command(connection, checkpoint.restore_command)
        now = _running_config(connection, host)
    except CommandError as exc:
        return False, f"ROLLBACK FAILED ({mask_secrets(str(exc))}): check {host.id} by hand"
    if not same_config(host.platform, now, saved):
        return False, f"ROLLBACK INCOMPLETE: the running config of {host.id} differs from checkpoint flash:{checkpoint.name}"
    _quietly_run(connection, checkpoint.delete_command)
    return True, "rolled back: the running config is the pre-change checkpoint again"


def _quietly_run(connection: Any, command: str) -> None:
    """Clean-up (deleting a checkpoint): its failure must not change the verdict."""
    try:
        run_command(connection, command)
    except CommandError as exc:
        run_logger().warning("%s", mask_secrets(f"{command!r} failed: {exc}"))


def deploy_markdown(tree: dict[str, Any]) -> str:
    """A markdown report of a ``deploy_config`` result tree: per-host outcome and diffs."""
    hosts = tree.get("hosts", {})
    verify = tree.get("sub_tasks", {}).get("verify_config", {}).get("hosts", {})
    dry = any((e.get("result") or {}).get("dry_run") for e in hosts.values())
    modes = sorted({(e.get("result") or {}).get("mode") for e in hosts.values()} - {None})
    lines = [f"# Config deploy ({'dry run' if dry else 'applied'}" + (f", mode {', '.join(modes)}" if modes else "") + ")", ""]
    for host_id, entry in hosts.items():
        status = entry.get("status")
        checked = verify.get(host_id, {})
        check = checked.get("status")
        if (checked.get("details") or {}).get("rolled_back"):
            check = f"{check}, rolled back"
        text = entry.get("summary") or entry.get("message") or entry.get("reason") or ""
        lines.append(f"- `{host_id}`: {status}" + (f", verify {check}" if check else "") + f": {text}")
        if checked.get("status") == "failed":
            lines.append(f"  - verify: {checked.get('message')}")
    for host_id, entry in hosts.items():
        if entry.get("diff"):
            lines += ["", f"## {host_id}", "", "```diff", entry["diff"].rstrip("\n"), "```"]
    return "\n".join(lines)


@flow(name="deploy-config", log_prints=False, persist_result=True, result_serializer="json")
def deploy_config(
    settings: str,
    template: str,
    filter: dict[str, str] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    variables: dict[str, Any] | None = None,
    apply: bool = False,
    verify: bool = True,
    mode: str = "merge",
    rollback: bool = False,
    check_command: str | None = None,
    check_regex: str | None = None,
) -> dict[str, Any]:
    """Render ``template`` (a file path or the template text) for every selected host and show
    the diff against its running config; with ``apply=True`` send it and verify it.

    Dry run by default: nothing is sent. The template sees ``host``, ``data`` and
    ``variables``. ``mode`` is ``merge`` (default) or ``replace`` (each candidate section
    becomes exactly the candidate's). After an apply, verification runs as a second run, so
    in fresh sessions: the running config is read again and must need no more lines;
    ``check_command`` (with ``check_regex``) must succeed too. ``rollback=True`` saves a
    checkpoint on the device before the change and restores it when verification fails
    (``details["rolled_back"]``). Returns the result tree (``deploy_config`` with its
    ``verify_config`` sub-task) and publishes a ``genja-deploy`` markdown artifact with the diffs.
    """
    deploy = DeployConfig(template, variables=variables, apply=apply, verify=verify, mode=mode,
                          rollback=rollback, check_command=check_command, check_regex=check_regex)
    genja = build_runtime(settings, filter, workers, runner, job="deploy_config")
    if not (apply and verify):
        results = genja.run_tasks([deploy])
        tree: dict[str, Any] = results_payload(results)
    else:
        verifier = deploy.verifier()
        once = DeployConfig(template, variables=variables, apply=True, verify=False, mode=mode,
                            rollback=rollback, change_id=deploy.change_id)
        results = genja.run_tasks([once])
        tree = results_payload(results)
        # Only hosts the change went to are verified; the connections of the first run are
        # closed by now, so this reads each device in a new session.
        sent = sorted(h for h, e in tree["hosts"].items() if (e.get("result") or {}).get("applied"))
        verified: dict[str, Any] = {"task_name": "verify_config", "hosts": {}, "sub_tasks": {}}
        if sent:
            checks = genja.filter(lambda host: host.id in sent).with_run_parameters(job="verify_config").run_tasks([verifier])
            verified = results_payload(checks)
            results = RunResults([*results, *checks])  # the job fails on either run's failures
        tree.setdefault("sub_tasks", {})["verify_config"] = verified
    publish_markdown("genja-deploy", deploy_markdown(tree), "Config deploy: diffs per host")
    return job_state(tree, results, genja.settings.prefect.fail_on)

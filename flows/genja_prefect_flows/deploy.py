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
from collections.abc import Mapping
from typing import Any

from prefect import flow

from genja_prefect.connection import CommandError
from genja_prefect.prefect.flows import job_state
from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.common import (
    RUNNING_CONFIG_COMMANDS,
    build_runtime,
    call,
    check_output,
    publish_markdown,
    results_payload,
    run_command,
)
from genja_prefect_flows.configtext import mask_secrets, missing_lines
from genja_prefect_flows.remediation import MODES, ChangePlan, plan_change
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


@task(name="verify_config")
class VerifyConfig:
    """Read the running config back and fail (kind ``validation``) when a candidate line is
    missing, or a ``no ...`` line is still present. Skipped after a dry run."""

    connection_plugin = "scrapli"

    def __init__(self, template: ConfigTemplate | str | os.PathLike[str], *, applied: bool = True,
                 variables: Mapping[str, Any] | None = None, mode: str = "merge") -> None:
        self.template = _template(template, variables)
        self.applied = applied
        self.mode = _check_mode(mode)

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        if not self.applied:
            return TaskSkipResult(reason="dry_run", message="nothing was applied, so there is nothing to verify")
        unsupported = _unsupported(host)
        if unsupported is not None:
            return unsupported
        candidate = _render(self.template, host)
        if isinstance(candidate, TaskFailureResult):
            return candidate
        running = _running_config(context.get_connection(self.connection_plugin), host)
        missing = missing_lines(running, candidate)
        # The same comparison as the dry run: after a good apply nothing is left to send.
        remaining = [mask_secrets(line) for line in plan_change(host.platform, running, candidate, self.mode).lines]
        if missing or remaining:
            what = _paths(missing) or remaining
            return TaskFailureResult(
                message=f"{len(what)} candidate line(s) not in effect in the running config of {host.id}: "
                + "; ".join(what[:5]),
                kind=TaskFailureKind.VALIDATION,
                details={"missing": _paths(missing), "remaining": remaining, "mode": self.mode},
            )
        return TaskSuccessResult(summary=f"running config matches the candidate ({self.mode})",
                                 result={"missing": [], "remaining": [], "mode": self.mode})


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
    ) -> None:
        self.template = _template(template, variables)
        self.apply = apply
        self.verify = verify
        self.mode = _check_mode(mode)
        if verify:
            # Sub-tasks are part of a task class's definition; this instance's verify step needs
            # this instance's template, so it gets a class of its own (pickled as DeployConfig).
            base = type(self)
            spec = dataclasses.replace(base.__genja_task__,  # type: ignore[attr-defined]
                                       sub_tasks=(VerifyConfig(self.template, applied=apply, mode=mode),))
            self.__class__ = type(base.__name__, (base,), {"__genja_task__": spec, "__qualname__": base.__qualname__,
                                                           "__module__": base.__module__})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.template, self.apply, self.verify, self.mode))

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


def _rebuild(template: ConfigTemplate, apply: bool, verify: bool, mode: str = "merge") -> DeployConfig:
    return DeployConfig(template, apply=apply, verify=verify, mode=mode)


def deploy_markdown(tree: dict[str, Any]) -> str:
    """A markdown report of a ``deploy_config`` result tree: per-host outcome and diffs."""
    hosts = tree.get("hosts", {})
    verify = tree.get("sub_tasks", {}).get("verify_config", {}).get("hosts", {})
    dry = any((e.get("result") or {}).get("dry_run") for e in hosts.values())
    modes = sorted({(e.get("result") or {}).get("mode") for e in hosts.values()} - {None})
    lines = [f"# Config deploy ({'dry run' if dry else 'applied'}" + (f", mode {', '.join(modes)}" if modes else "") + ")", ""]
    for host_id, entry in hosts.items():
        status = entry.get("status")
        check = verify.get(host_id, {}).get("status")
        text = entry.get("summary") or entry.get("message") or entry.get("reason") or ""
        lines.append(f"- `{host_id}`: {status}" + (f", verify {check}" if check else "") + f": {text}")
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
) -> dict[str, Any]:
    """Render ``template`` (a file path or the template text) for every selected host and show
    the diff against its running config; with ``apply=True`` send it and verify it.

    Dry run by default: nothing is sent. The template sees ``host``, ``data`` and
    ``variables``. ``mode`` is ``merge`` (default) or ``replace`` (each candidate section
    becomes exactly the candidate's). Returns the result tree (``deploy_config`` with its ``verify_config``
    sub-task) and publishes a ``genja-deploy`` markdown artifact with the diffs.
    """
    deploy = DeployConfig(template, variables=variables, apply=apply, verify=verify, mode=mode)
    genja = build_runtime(settings, filter, workers, runner, job="deploy_config")
    results = genja.run_tasks([deploy])
    tree: dict[str, Any] = results_payload(results)
    publish_markdown("genja-deploy", deploy_markdown(tree), "Config deploy: diffs per host")
    return job_state(tree, results, genja.settings.prefect.fail_on)

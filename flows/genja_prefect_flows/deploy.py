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
import uuid
from collections.abc import Mapping
from typing import Any

from genja_prefect.connection import CommandError
from genja_prefect.results import RunResults, TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.approval import ApprovalTimeout, ask_approval, new_review_key, review_digest
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import (
    build_runtime,
    call,
    check_output,
    finish_job,
    publish_markdown,
    results_payload,
    run_command,
    run_logger,
)
from genja_prefect_flows.configtext import mask_secrets, missing_lines
from genja_prefect_flows.remediation import ChangePlan, plan_change
from genja_prefect_flows.rollback import ROLLBACK_PLATFORMS, Checkpoint
from genja_prefect_flows.templates import ConfigTemplate
from genja_prefect_flows.verify import (
    CONFIG_PLATFORMS,
    VerifyConfig,
    as_template,
    check_mode,
    compile_check,
    masked_paths,
    render_candidate,
    running_config,
    unsupported_platform,
)

__all__ = ["CONFIG_PLATFORMS", "DeployConfig", "VerifyConfig", "deploy_config", "deploy_config_job", "deploy_markdown"]


def _send(connection: Any, lines: list[str]) -> None:
    """Send the planned lines in config mode; a rejection raises CommandError with the device
    output masked (it echoes the lines, secrets included)."""
    output = call(connection, "send_config", lines)
    text = output if isinstance(output, str) else str(getattr(output, "result", output or ""))
    try:
        check_output("configuration", text, anywhere=True)
    except CommandError as exc:
        raise CommandError(mask_secrets(str(exc)), output=mask_secrets(text)) from None


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
    the regular expression to match its output. ``rollback=True`` (ios, iosxe, eos, nxos) saves
    the running config to a checkpoint on the device before sending (``result["checkpoint"]``:
    a ``flash:`` file, on NX-OS a named ``checkpoint``);
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
        review_key: bytes | None = None,
        reviewed: Mapping[str, str] | None = None,
    ) -> None:
        self.template = as_template(template, variables)
        # Approval gate (deploy_config(approve=True)): a dry run with review_key reports each
        # host's review_digest; an apply with reviewed={host: digest} sends only a plan whose
        # digest is the reviewed one.
        self.review_key = review_key
        self.reviewed = dict(reviewed) if reviewed is not None else None
        self.apply = apply
        self.verify = verify
        self.mode = check_mode(mode)
        self.rollback = rollback
        self.check_command = check_command
        self.check_regex = check_regex
        compile_check(check_command, check_regex)
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
        """The checkpoint file this change saves before sending (``rollback=True``; NX-OS
        names its checkpoint the same without ``.cfg``)."""
        return f"genja-{self.change_id}.cfg" if self.rollback else None

    def verifier(self) -> VerifyConfig:
        """The verification of this change (its sub-task; deploy_config runs it in a fresh session)."""
        return VerifyConfig(self.template, applied=self.apply, mode=self.mode, rollback=self.rollback,
                            checkpoint=self.checkpoint, check_command=self.check_command,
                            check_regex=self.check_regex)

    def verifier_after_apply(self) -> VerifyConfig:
        """:meth:`verifier` of this change once applied (deploy_config's second run)."""
        return VerifyConfig(self.template, applied=True, mode=self.mode, rollback=self.rollback,
                            checkpoint=self.checkpoint, check_command=self.check_command,
                            check_regex=self.check_regex)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.template, self.apply, self.verify, self.mode, self.rollback,
                           self.check_command, self.check_regex, self.change_id, self.review_key, self.reviewed))

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        unsupported = unsupported_platform(host)
        if unsupported is not None:
            return unsupported
        candidate = render_candidate(self.template, host)
        if isinstance(candidate, TaskFailureResult):
            return candidate
        if not missing_lines("", candidate):
            return TaskSkipResult(reason="empty_candidate", message=f"template {self.template.name} rendered no config lines")
        connection = context.get_connection(self.connection_plugin)
        running = running_config(connection, host)
        plan = plan_change(host.platform, running, candidate, self.mode)
        result = _plan_result(plan, apply=self.apply, missing=missing_lines(running, candidate))
        if plan.empty:
            return TaskSuccessResult(result=result, summary="already in line with the candidate; nothing to send")
        diff = mask_secrets(plan.diff.replace("--- running", f"--- {host.id} running", 1)
                            .replace("+++ running", f"+++ {host.id} running", 1))
        digest = review_digest(self.review_key, plan.lines) if self.review_key is not None else None
        if not self.apply:
            if digest is not None:
                result["review_digest"] = digest
            return TaskSuccessResult(result=result, diff=diff,
                                     summary=f"dry run ({plan.mode}): {len(plan.lines)} line(s) would be sent; nothing sent")
        if self.reviewed is not None:
            if host.id not in self.reviewed:
                return TaskSkipResult(reason="not_reviewed", message=f"{host.id} had no change to review; nothing sent")
            if digest != self.reviewed[host.id]:
                return TaskFailureResult(
                    message=f"the change for {host.id} is not the reviewed one (its running config changed since "
                    "the review); nothing was sent: run the review again",
                    kind=TaskFailureKind.VALIDATION,
                    details={"lines": result["lines"]},
                )
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
        "missing": masked_paths(missing),
    }


def _rebuild(template: ConfigTemplate, apply: bool, verify: bool, mode: str = "merge", rollback: bool = False,
             check_command: str | None = None, check_regex: str | None = None,
             change_id: str | None = None, review_key: bytes | None = None,
             reviewed: Mapping[str, str] | None = None) -> DeployConfig:
    return DeployConfig(template, apply=apply, verify=verify, mode=mode, rollback=rollback,
                        check_command=check_command, check_regex=check_regex, change_id=change_id,
                        review_key=review_key, reviewed=reviewed)


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


def deploy_config_check(template: str, variables: dict[str, Any] | None = None, apply: bool = False,
                        verify: bool = True, **_common: Any) -> None:
    """Raise what :func:`deploy_config_job` would raise for these parameters (a missing template,
    a template syntax error), before any run starts."""
    DeployConfig(template, variables=variables, apply=apply, verify=verify)


def deploy_config_job(
    settings: str,
    template: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    variables: dict[str, Any] | None = None,
    apply: bool = False,
    verify: bool = True,
    mode: str = "merge",
    rollback: bool = False,
    check_command: str | None = None,
    check_regex: str | None = None,
    approve: bool = False,
    approval_timeout: int = 3600,
    approval_poll_seconds: int = 10,
) -> Any:
    """Render ``template`` (a file path or the template text) for every selected host and show
    the diff against its running config; with ``apply=True`` send it and verify it.

    Dry run by default: nothing is sent. The template sees ``host``, ``data`` and
    ``variables``. ``mode`` is ``merge`` (default) or ``replace`` (each candidate section
    becomes exactly the candidate's). After an apply, verification runs as a second run, so
    in fresh sessions: the running config is read again and must need no more lines;
    ``check_command`` (with ``check_regex``) must succeed too. ``rollback=True`` saves a
    checkpoint on the device before the change and restores it when verification fails
    (``details["rolled_back"]``).

    ``approve=True``: a dry run, its diffs as a ``genja-deploy-review`` artifact, then the flow
    run pauses (Prefect's ``pause_flow_run``) for a decision (``approve``, ``comment``) given in
    the UI or through the API. Approved: exactly the reviewed lines are applied (a host whose
    plan changed meanwhile fails, nothing sent) and verified. Rejected, or no decision within
    ``approval_timeout`` seconds: nothing is sent and the run ends Cancelled; ``approval`` in
    the result tree records the decision and comment.

    Returns the result tree (``deploy_config`` with its ``verify_config`` sub-task) and
    publishes a ``genja-deploy`` markdown artifact with the diffs.
    """
    genja = build_runtime(settings, filter, workers, runner, job="deploy_config", needs=["scrapli"])
    options: dict[str, Any] = {"variables": variables, "mode": mode, "rollback": rollback,
                               "check_command": check_command, "check_regex": check_regex}
    if approve:
        return _approved_change(genja, template, options, verify, approval_timeout, approval_poll_seconds)
    if not (apply and verify):
        deploy = DeployConfig(template, apply=apply, verify=verify, **options)
        results = genja.run_tasks([deploy])
        tree: dict[str, Any] = results_payload(results)
    else:
        tree, results = _apply_and_verify(genja, template, options)
    publish_markdown("genja-deploy", deploy_markdown(tree), "Config deploy: diffs per host")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def _apply_and_verify(genja: Any, template: str, options: dict[str, Any], *, verify: bool = True,
                      review_key: bytes | None = None,
                      reviewed: Mapping[str, str] | None = None) -> tuple[dict[str, Any], RunResults]:
    """Apply in one run, verify the hosts it changed in a second (fresh sessions)."""
    deploy = DeployConfig(template, apply=True, verify=False, review_key=review_key, reviewed=reviewed, **options)
    results = genja.run_tasks([deploy])
    tree: dict[str, Any] = results_payload(results)
    if not verify:
        return tree, results
    # Only hosts the change went to are verified; the connections of the first run are
    # closed by now, so this reads each device in a new session.
    sent = sorted(h for h, e in tree["hosts"].items() if (e.get("result") or {}).get("applied"))
    verified: dict[str, Any] = {"task_name": "verify_config", "hosts": {}, "sub_tasks": {}}
    if sent:
        checks = genja.filter(lambda host: host.id in sent).with_run_parameters(job="verify_config").run_tasks(
            [deploy.verifier_after_apply()])
        verified = results_payload(checks)
        results = RunResults([*results, *checks])  # the job fails on either run's failures
    tree.setdefault("sub_tasks", {})["verify_config"] = verified
    return tree, results


def _approved_change(genja: Any, template: str, options: dict[str, Any], verify: bool, timeout: int,
                     poll_seconds: int) -> Any:
    """deploy_config(approve=True): review, pause for the decision, then apply or not."""
    from prefect.states import Cancelled

    key = new_review_key()
    dry_results = genja.run_tasks([DeployConfig(template, apply=False, verify=False, review_key=key, **options)])
    tree: dict[str, Any] = results_payload(dry_results)
    review = deploy_markdown(tree)
    publish_markdown("genja-deploy-review", review, "Config deploy: the diffs to approve or reject")
    digests = {h: str(e["result"]["review_digest"]) for h, e in tree["hosts"].items()
               if e.get("status") == "passed" and (e.get("result") or {}).get("review_digest")}
    log = run_logger()
    if not digests:
        tree["approval"] = {"asked": False, "approved": None, "comment": "nothing to change"}
        log.info("deploy_config: no host needs a change; no approval asked")
        return finish_job(tree, dry_results, genja.settings.prefect.fail_on)
    log.info("deploy_config: waiting for approval of the changes on %d host(s) (artifact genja-deploy-review)",
             len(digests))
    try:
        decision = ask_approval(mask_secrets(review), timeout, poll_seconds)
    except ApprovalTimeout as exc:
        tree["approval"] = {"asked": True, "approved": False, "timed_out": True, "comment": ""}
        message = f"approval: {exc}; nothing was applied"
        _publish_decision(tree, message)
        log.warning("deploy_config: %s", message)
        return Cancelled(message=message, data=tree)
    comment = mask_secrets(decision.comment)
    if not decision.approve:
        tree["approval"] = {"asked": True, "approved": False, "timed_out": False, "comment": comment}
        message = f"rejected: {comment or '(no comment)'}; nothing was applied"
        _publish_decision(tree, message)
        log.warning("deploy_config: %s", message)
        return Cancelled(message=message, data=tree)
    log.info("deploy_config: approved (%s); applying the reviewed lines", comment or "no comment")
    reviewed = genja.filter(lambda host: host.id in digests)
    applied, results = _apply_and_verify(reviewed, template, options, verify=verify, review_key=key, reviewed=digests)
    applied["approval"] = {"asked": True, "approved": True, "timed_out": False, "comment": comment}
    _publish_decision(applied, f"approved: {comment or '(no comment)'}")
    publish_markdown("genja-deploy", deploy_markdown(applied), "Config deploy: diffs per host")
    return finish_job(applied, results, genja.settings.prefect.fail_on)


def _publish_decision(tree: dict[str, Any], message: str) -> None:
    publish_markdown("genja-deploy-approval", f"# Config deploy approval\n\n{message}\n",
                     "Config deploy: the approval decision and its comment")


def __getattr__(name: str) -> Any:
    # The Prefect flows (``deploy_config``) are made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)

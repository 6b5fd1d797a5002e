"""NETCONF get-config and edit-config on NETCONF hosts (through the ``ncclient`` connection plugin).

As genja tasks::

    import genja_prefect as genja_lib
    from genja_prefect_flows import NetconfEditConfig, NetconfGetConfig

    genja = genja_lib.Genja.from_settings_file("lab/settings.yaml").filter(platform="netconf")
    got = genja.run_task(NetconfGetConfig(filter="<system xmlns='urn:ietf:params:xml:ns:yang:ietf-system'/>"))
    print(got["netconf1"].result["xml"])

As Prefect flows::

    from genja_prefect_flows import netconf_edit_config, netconf_get_config

    tree = netconf_get_config(settings="lab/settings.yaml", filter={"platform": "netconf"})

``NetconfEditConfig`` locks the target datastore, edits it and unlocks it again: the candidate
datastore followed by ``commit`` when the server has ``:candidate``, else running. The "before"
copy is read under the lock, and only the edited subtree is read (a subtree filter built from
the config: list entries by their key), before and after. ``error-option rollback-on-error``
is sent when the server announces ``:rollback-on-error``. On an error the candidate's changes
are discarded and the lock released before the host fails; the failure names the server's
``error-tag``, ``error-path`` and ``error-info`` (``bad-element``, ...), also in ``details``.
A candidate left with uncommitted changes by another session is a one-line failure that says
what to do (``discard_changes_first=True`` drops those changes before locking). The host
result's ``diff`` compares the edited part of the running config before and after.

``confirmed=True`` commits with ``<commit><confirmed/><confirm-timeout>N</confirm-timeout>``
(the server's ``:confirmed-commit``), checks the result in a new NETCONF session (the edit in
effect, ``check_xpath``, ``check``), then sends the confirming ``<commit/>``; when a check
fails (or no new session can be opened) it sends ``<cancel-commit/>`` (``:confirmed-commit:1.1``)
or, on a 1.0 server, waits for the server to undo the commit when the timeout passes. The
result says ``rolled_back``. See :mod:`genja_prefect_flows.netconf_verify` for the checks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genja_prefect.errors import GenjaError
from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import FlowParameterError, build_runtime, call, finish_job, logger, publish_markdown, results_payload
from genja_prefect_flows.configtext import mask_secrets, unified_diff
from genja_prefect_flows.netconf_verify import UserCheck, XPathCheck, intent_problems, run_user_check

try:
    from lxml import etree
except ImportError:  # lxml comes with ncclient (the devices extra). Without it the package still
    # imports, so a deployment run fails with build_runtime's one-line "install the extra".
    etree = None

__all__ = [
    "NetconfEditConfig",
    "NetconfGetConfig",
    "NetconfXmlError",
    "edit_filter",
    "netconf_edit_config",
    "netconf_edit_config_job",
    "netconf_get_config",
    "netconf_get_config_job",
]

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
CANDIDATE = "urn:ietf:params:netconf:capability:candidate:1.0"
ROLLBACK_ON_ERROR = "urn:ietf:params:netconf:capability:rollback-on-error:1.0"
CONFIRMED_COMMIT = "urn:ietf:params:netconf:capability:confirmed-commit:"
#: How long past its confirm timeout a 1.0 server gets to undo a commit before we give up
#: waiting (seconds).
TIMEOUT_GRACE_S = 30.0
ERROR_OPTIONS = ("auto", "stop-on-error", "continue-on-error", "rollback-on-error")
#: Leaf names that identify a list entry when they come first (RFC 7950 keys of the common
#: IETF/OpenConfig models): a filter keeps them as content match nodes.
KEY_LEAVES = frozenset({"name", "id", "key", "index", "vlan-id", "sequence-id", "prefix", "address", "ip"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True) if etree else None


def _rpc_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the server answered with an <rpc-error>"."""
    from genja_prefect.connection import CommandError

    try:
        from ncclient.operations.rpc import RPCError
    except ImportError:  # ncclient is an optional extra; the plugin may raise CommandError
        return (CommandError,)
    return (CommandError, RPCError)


class NetconfXmlError(GenjaError, ValueError):
    """A subtree filter or config is not well-formed XML; the message names the parameter."""


def _parse(text: str, what: str) -> etree._Element:
    try:
        return etree.fromstring(text.strip().encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise NetconfXmlError(f"{what} is not well-formed XML: {exc}") from None


def _check_fragment(text: str, what: str) -> None:
    """Accept one element or several sibling elements (a subtree filter / config body)."""
    _parse(f"<wrapper>{text}</wrapper>", what)


def config_element(config: str) -> str:
    """``config`` wrapped in ``<config xmlns=base>`` unless it already is such an element."""
    _check_fragment(config, "config")
    stripped = config.strip()
    try:
        root = etree.fromstring(stripped.encode("utf-8"), _PARSER)
        if etree.QName(root).localname == "config":
            return stripped
    except etree.XMLSyntaxError:
        pass  # several top-level elements: wrap them
    return f'<config xmlns="{BASE_NS}">{stripped}</config>'


def config_text(config: str) -> str:
    """``config`` when it is XML (starts with ``<``), else the text of the file it names."""
    if config.lstrip().startswith("<"):
        return config
    path = os.path.expanduser(config.strip())
    if not path or not os.path.isfile(path):
        raise NetconfXmlError(f"config: neither XML (starting with '<') nor a file: {config!r} "
                              f"(working directory {os.getcwd()!r})")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def reply_xml(reply: Any) -> str:
    """The XML text of a plugin reply: a string, or an ncclient reply (``data_xml``/``xml``)."""
    if reply is None:
        return ""
    if isinstance(reply, bytes):
        return reply.decode("utf-8")
    if isinstance(reply, str):
        return reply
    for attr in ("data_xml", "xml"):
        value = getattr(reply, attr, None)
        if isinstance(value, str):
            return value
    return str(reply)


def pretty_xml(text: str) -> str:
    """Indented XML (the input unchanged when it does not parse)."""
    if not text.strip():
        return ""
    try:
        root = etree.fromstring(text.strip().encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return text
    return str(etree.tostring(root, pretty_print=True, encoding="unicode"))


def server_capabilities(connection: Any) -> list[str]:
    """The NETCONF capabilities the server announced, from the plugin's connection."""
    for holder in (connection, getattr(connection, "manager", None), getattr(connection, "session", None)):
        if holder is None:
            continue
        for attr in ("server_capabilities", "capabilities"):
            value = getattr(holder, attr, None)
            if callable(value):
                value = call(holder, attr)
            if value is not None and not isinstance(value, (str, bytes)):
                try:
                    return [str(c) for c in value]
                except TypeError:
                    continue
    return []


def supports_candidate(connection: Any) -> bool:
    """True when the server announced ``:candidate``."""
    return _announced(server_capabilities(connection), CANDIDATE)


def _announced(capabilities: list[str], capability: str) -> bool:
    base = capability.rsplit(":", 1)[0]
    short = ":" + base.rsplit(":", 1)[1]
    return any(c.startswith(base) or c == short for c in capabilities)


def edit_filter(config: str) -> str | None:
    """A subtree filter that selects what ``config`` (an edit-config ``<config>``) touches:
    containers down to the edited leaves, list entries by their key leaf (the whole entry).
    ``None`` when the config has no elements (then nothing narrower than everything exists).

    Example: ``<interfaces><interface><name>eth1</name><description>x</description>``
    gives ``<interfaces><interface><name>eth1</name></interface></interfaces>``.
    """
    root = _parse(config_element(config), "config")
    nodes = [_filter_node(child) for child in root if isinstance(child.tag, str)]
    if not nodes:
        return None
    return "".join(etree.tostring(node, encoding="unicode") for node in nodes)


def _filter_node(element: etree._Element) -> etree._Element:
    node = etree.Element(element.tag, nsmap={None: etree.QName(element).namespace} if etree.QName(element).namespace else None)
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return node  # a leaf: selection node
    first = children[0]
    if len(first) == 0 and etree.QName(first).localname in KEY_LEAVES and (first.text or "").strip():
        key = etree.SubElement(node, first.tag)
        key.text = first.text.strip()
        return node  # a list entry: content match on its key selects all of it
    for child in children:
        node.append(_filter_node(child))
    return node


@task(name="netconf_get_config")
class NetconfGetConfig:
    """``<get-config>`` of ``source`` (``running`` by default), with an optional subtree filter.

    ``result`` holds ``source`` and ``xml`` (the ``<data>`` reply, indented).
    """

    connection_plugin = "ncclient"

    def __init__(self, source: str = "running", filter: str | None = None) -> None:  # noqa: A002
        if filter is not None:
            _check_fragment(filter, "filter")
        self.source = source
        self.filter = filter

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        connection = context.get_connection(self.connection_plugin)
        xml = pretty_xml(reply_xml(call(connection, "get_config", self.source, self.filter)))
        return TaskSuccessResult(
            result={"source": self.source, "xml": xml},
            summary=f"get-config {self.source}: {len(xml)} characters",
        )


def confirmed_commit_version(capabilities: list[str]) -> str | None:
    """The ``:confirmed-commit`` version the server announced (``"1.1"``, ``"1.0"``) or None."""
    versions = sorted(c[len(CONFIRMED_COMMIT):] for c in capabilities if c.startswith(CONFIRMED_COMMIT))
    if not versions and any(c.startswith(":confirmed-commit") for c in capabilities):
        versions = sorted(c.rsplit(":", 1)[1] if c.count(":") > 1 else "1.0" for c in capabilities
                          if c.startswith(":confirmed-commit"))
    return versions[-1] if versions else None


@dataclass
class _Verdict:
    """How the checks after a confirmed commit went, and what was done about it."""

    problems: list[str] = field(default_factory=list)
    session: str = "new session"
    checks: list[str] = field(default_factory=list)
    rolled_back: bool = False
    rollback: str | None = None  # "cancel-commit" or "confirm-timeout"
    note: str = ""


@task(name="netconf_edit_config")
class NetconfEditConfig:
    """``<edit-config>`` with ``config`` (XML, with or without the ``<config>`` wrapper).

    ``target="auto"`` uses candidate + commit when the server has ``:candidate``, else running;
    ``"candidate"`` or ``"running"`` force one. The target is locked for the edit.
    ``changed`` tells whether the running config differs afterwards (``diff`` shows how).

    ``confirmed=True`` (needs the candidate and the server's ``:confirmed-commit``): the commit
    is a confirmed one the server undoes by itself unless confirmed within ``confirm_timeout``
    seconds. Before confirming, a new NETCONF session reads the running config back and checks
    that the edit is in effect (``verify``, on by default), that ``check_xpath`` holds on a
    ``<get>`` (config and state) of ``check_filter`` (default: what the edit touches) with the
    prefixes of ``check_namespaces``, and that ``check`` (a callable given the ``<get>`` XML;
    True/None passes, False or a message fails) passes. All good: the confirming ``<commit/>``.
    Anything wrong, or no new session possible: ``<cancel-commit/>`` on a
    ``:confirmed-commit:1.1`` server, else the task waits (at most ``confirm_timeout`` + 30 s)
    for the server's own rollback. Then the host fails (kind ``validation``) with
    ``details["rolled_back"]`` true when the running config is the one before again.
    """

    connection_plugin = "ncclient"

    def __init__(
        self,
        config: str,
        *,
        target: str = "auto",
        default_operation: str = "merge",
        error_option: str = "auto",
        discard_changes_first: bool = False,
        confirmed: bool = False,
        confirm_timeout: int = 120,
        verify: bool = True,
        check_xpath: str | None = None,
        check_namespaces: Mapping[str, str] | None = None,
        check_filter: str | None = None,
        check: UserCheck | None = None,
    ) -> None:
        if target not in ("auto", "candidate", "running"):
            raise FlowParameterError(f"target must be 'auto', 'candidate' or 'running', not {target!r}")
        if default_operation not in ("merge", "replace", "none"):
            raise FlowParameterError(f"default_operation must be 'merge', 'replace' or 'none', not {default_operation!r}")
        if error_option not in ERROR_OPTIONS:
            raise FlowParameterError(f"error_option must be one of {', '.join(ERROR_OPTIONS)}, not {error_option!r}")
        if confirmed and target == "running":
            raise FlowParameterError("confirmed=True commits the candidate datastore: use target='auto' or 'candidate'")
        if isinstance(confirm_timeout, bool) or not isinstance(confirm_timeout, int) or confirm_timeout < 1:
            raise FlowParameterError(f"confirm_timeout must be a whole number of seconds >= 1, not {confirm_timeout!r}")
        checks_given = check_xpath is not None or check is not None or check_filter is not None
        if checks_given and not confirmed:
            raise FlowParameterError("check_xpath, check_filter and check run between a confirmed commit and its "
                                     "confirmation: add confirmed=True")
        if check_namespaces and check_xpath is None:
            raise FlowParameterError("check_namespaces: give check_xpath too (the expression that uses them)")
        if check_filter is not None:
            _check_fragment(check_filter, "check_filter")
        self.config = config_element(config)
        self.target = target
        self.default_operation = default_operation
        self.error_option = error_option
        self.discard_changes_first = discard_changes_first
        self.confirmed = confirmed
        self.confirm_timeout = confirm_timeout
        self.verify = verify
        try:
            self.check_xpath = XPathCheck(check_xpath, check_namespaces) if check_xpath is not None else None
        except ValueError as exc:
            raise FlowParameterError(str(exc)) from None
        self.check = check
        # default-operation replace rewrites the whole datastore: only a full read shows it.
        self.filter = None if default_operation == "replace" else edit_filter(self.config)
        self.check_filter = check_filter if check_filter is not None else self.filter

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        connection = context.get_connection(self.connection_plugin)
        capabilities = server_capabilities(connection)
        target = self.target
        if target == "auto":
            target = "candidate" if _announced(capabilities, CANDIDATE) else "running"
        error_option: str | None = self.error_option
        if error_option == "auto":
            error_option = "rollback-on-error" if _announced(capabilities, ROLLBACK_ON_ERROR) else None
        elif error_option == "rollback-on-error" and not _announced(capabilities, ROLLBACK_ON_ERROR):
            return TaskFailureResult(
                message=f"{host.id} does not announce :rollback-on-error; use error_option='auto' or 'stop-on-error'",
                kind=TaskFailureKind.VALIDATION,
            )
        version = confirmed_commit_version(capabilities)
        if self.confirmed and (target != "candidate" or version is None):
            missing = ":candidate" if target != "candidate" else ":confirmed-commit"
            return TaskFailureResult(
                message=f"confirmed=True: {host.id} does not announce {missing}; nothing was sent "
                "(run without confirmed=True to commit without a confirmation step)",
                kind=TaskFailureKind.VALIDATION,
            )
        warnings: list[str] = []
        step = "lock"
        try:
            if self.discard_changes_first and target == "candidate":
                step = "discard-changes"
                call(connection, "discard_changes")
                step = "lock"
            call(connection, "lock", target)
        except _rpc_error_types() as exc:
            return _failure(step, target, host, exc, warnings)
        step = "get-config"
        verdict: _Verdict | None = None
        try:
            try:
                # Read under the lock: nobody changes it between this copy and the edit.
                before = pretty_xml(reply_xml(call(connection, "get_config", "running", self.filter)))
                step = "edit-config"
                call(connection, "edit_config", self.config, target, self.default_operation, error_option)
                if target == "candidate" and not self.confirmed:
                    step = "commit"
                    call(connection, "commit")
                elif self.confirmed:
                    step = "commit confirmed"
                    call(connection, "commit", confirmed=True, timeout=self.confirm_timeout)
                    verdict = self._check_in_new_session(connection, host)
                    if verdict.problems:
                        step = "roll back"
                        self._roll_back(connection, host, version, before, verdict)
                    else:
                        step = "confirming commit"
                        call(connection, "commit")
                step = "get-config"
                after = pretty_xml(reply_xml(call(connection, "get_config", "running", self.filter)))
            except Exception:
                if target == "candidate" and step in ("edit-config", "commit", "commit confirmed"):
                    _quietly(connection, "discard_changes", (), host, warnings)
                raise
        except _rpc_error_types() as exc:
            failed = _failure(step, target, host, exc, warnings)
            if step in ("confirming commit", "roll back"):
                failed.message += (f"; the server undoes the confirmed commit by itself when its {self.confirm_timeout} s "
                                   "confirm timeout passes (or this session ends)")
            return failed
        finally:
            _quietly(connection, "unlock", (target,), host, warnings)
        result: dict[str, Any] = {
            "target": target,
            "default_operation": self.default_operation,
            "error_option": error_option,
            "discarded_first": self.discard_changes_first and target == "candidate",
            "filter": self.filter,
        }
        if verdict is not None:
            result.update(confirmed=True, confirm_timeout=self.confirm_timeout, confirmed_commit=version,
                          verified_in=verdict.session, checks=verdict.checks, rolled_back=verdict.rolled_back)
        if verdict is not None and verdict.problems:
            message = (f"verification after the confirmed commit on {host.id} failed: "
                       + "; ".join(verdict.problems[:5]) + f"; {verdict.note}")
            return TaskFailureResult(
                message=mask_secrets(" ".join(message.split())),
                kind=TaskFailureKind.VALIDATION,
                details={**result, "step": "verify", "problems": [mask_secrets(p) for p in verdict.problems],
                         "rollback": verdict.rollback},
                warnings=warnings,
            )
        changed = before != after
        diff = mask_secrets(unified_diff(before, after, f"{host.id} running (before)", f"{host.id} running (after)"))
        commit = " + commit" if target == "candidate" and not self.confirmed else ""
        if verdict is not None:
            commit = f" + commit confirmed, checked in a {verdict.session}, confirmed"
        return TaskSuccessResult(
            result=result,
            changed=changed,
            diff=diff or None,
            summary=f"edit-config on {target}{commit}" + (": running config changed" if changed else ": no change"),
            warnings=warnings,
        )

    def _check_in_new_session(self, connection: Any, host: Host) -> _Verdict:
        """Read the device after the confirmed commit, in a new session when the plugin can
        open one (``open_another``), and run the checks. Never raises for what it finds: a
        failed read is a problem like a failed check."""
        verdict = _Verdict()
        reader = connection
        if getattr(connection, "open_another", None) is None:
            verdict.session = "same session"  # a plugin without it: a fresh read at least
        else:
            try:
                reader = call(connection, "open_another")
            except Exception as exc:  # noqa: BLE001 - not reaching the device is the failure to catch
                verdict.problems.append(f"no new NETCONF session to {host.id} after the commit: {exc}")
                return verdict
        try:
            if self.verify:
                verdict.checks.append("edit in effect")
                running = reply_xml(call(reader, "get_config", "running", self.filter))
                verdict.problems += intent_problems(self.config, running, self.default_operation)
            if self.check_xpath is not None or self.check is not None:
                state = reply_xml(call(reader, "get", self.check_filter))
                if self.check_xpath is not None:
                    verdict.checks.append("check_xpath")
                    problem = self.check_xpath.problem(state)
                    if problem:
                        verdict.problems.append(problem)
                if self.check is not None:
                    verdict.checks.append("check")
                    problem = run_user_check(self.check, state)
                    if problem:
                        verdict.problems.append(problem)
        except Exception as exc:  # noqa: BLE001 - a read that fails is a verification that fails
            verdict.problems.append(f"reading {host.id} back after the commit failed: {exc}")
        finally:
            if reader is not connection:
                try:
                    call(reader, "close")
                except Exception as exc:  # noqa: BLE001 - the check's outcome stands
                    logger.debug("closing the check session to %s failed: %s", host.id, exc)
        return verdict

    def _roll_back(self, connection: Any, host: Host, version: str | None, before: str, verdict: _Verdict) -> None:
        """Undo the confirmed commit: cancel-commit (1.1), else wait for the server's timeout;
        then compare the running config with the one before."""
        if version == "1.1":
            verdict.rollback = "cancel-commit"
            call(connection, "cancel_commit")
        else:
            verdict.rollback = "confirm-timeout"
            logger.warning("%s: :confirmed-commit:1.0 has no cancel-commit; waiting up to %d s for the server "
                           "to undo the commit", host.id, self.confirm_timeout)
        deadline = time.monotonic() + (0 if version == "1.1" else self.confirm_timeout + TIMEOUT_GRACE_S)
        while True:
            now = pretty_xml(reply_xml(call(connection, "get_config", "running", self.filter)))
            if now == before or time.monotonic() >= deadline:
                break
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        verdict.rolled_back = now == before
        how = "cancel-commit" if version == "1.1" else f"the server's {self.confirm_timeout} s confirm timeout"
        if verdict.rolled_back:
            verdict.note = f"rolled back ({how}): the running config is the one before the change"
        else:
            verdict.note = f"ROLLBACK NOT CONFIRMED: after {how} the running config of {host.id} differs from before; check it by hand"


def _failure(step: str, target: str, host: Host, exc: BaseException, warnings: list[str]) -> TaskFailureResult:
    """A one-line failure (no traceback) with the server's errors in ``details["errors"]``."""
    errors: list[dict[str, Any]] = list(getattr(exc, "errors", None) or [])
    tags = {str(e.get("tag")) for e in errors}
    message = f"{step} on {target} rejected by {host.id}: {exc}"
    hint = None
    if step == "lock" and target == "candidate" and "lock-denied" in tags:
        hint = (
            "another session holds the candidate's lock or left uncommitted changes in it; if those changes "
            "are to be dropped, rerun with discard_changes_first=True, else commit or discard them on the device"
        )
        message += f" ({hint})"
    details: dict[str, Any] = {"target": target, "step": step, "errors": errors}
    if hint:
        details["hint"] = hint
    return TaskFailureResult(
        message=mask_secrets(" ".join(message.split())),
        kind=TaskFailureKind.COMMAND,
        details=details,
        warnings=warnings,
    )


def _quietly(connection: Any, method: str, args: tuple[Any, ...], host: Host, warnings: list[str]) -> None:
    """Clean-up calls (discard-changes, unlock): a failure becomes a warning on the host result,
    so that the edit's own outcome is the one reported."""
    try:
        call(connection, method, *args)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        text = mask_secrets(f"{method.replace('_', '-')} on {host.id} failed: {exc}")
        logger.warning("%s", text)
        warnings.append(text)


def netconf_get_config_check(source: str = "running", subtree: str | None = None, **_common: Any) -> None:
    """Raise what :func:`netconf_get_config_job` would raise for these parameters (XML that is
    not well-formed), before any run starts."""
    NetconfGetConfig(source=source, filter=subtree)


def netconf_edit_config_check(config: str, target: str = "auto", default_operation: str = "merge",
                              error_option: str = "auto", confirmed: bool = False, confirm_timeout: int = 120,
                              check_xpath: str | None = None, check_namespaces: dict[str, str] | None = None,
                              check_filter: str | None = None, **_common: Any) -> None:
    """Raise what :func:`netconf_edit_config_job` would raise for these parameters, before any run."""
    NetconfEditConfig(config_text(config), target=target, default_operation=default_operation,
                      error_option=error_option, confirmed=confirmed, confirm_timeout=confirm_timeout,
                      check_xpath=check_xpath, check_namespaces=check_namespaces, check_filter=check_filter)


def netconf_get_config_job(
    settings: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    source: str = "running",
    subtree: str | None = None,
) -> dict[str, Any]:
    """``<get-config>`` from every selected NETCONF host; ``subtree`` is an optional subtree
    filter (XML). Returns the result tree; each host's ``result["xml"]`` holds the data."""
    job = NetconfGetConfig(source=source, filter=subtree)
    genja = build_runtime(settings, filter, workers, runner, job="netconf_get_config", needs=["ncclient"])
    results = genja.run_tasks([job])
    tree: dict[str, Any] = results_payload(results)
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def netconf_edit_config_job(
    settings: str,
    config: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    target: str = "auto",
    default_operation: str = "merge",
    error_option: str = "auto",
    discard_changes_first: bool = False,
    confirmed: bool = False,
    confirm_timeout: int = 120,
    verify: bool = True,
    check_xpath: str | None = None,
    check_namespaces: dict[str, str] | None = None,
    check_filter: str | None = None,
) -> dict[str, Any]:
    """``<edit-config>`` with ``config`` on every selected NETCONF host: candidate + commit
    when the server supports it (``target="auto"``), else running, under a lock. ``config`` is
    the XML itself or the path of a file holding it (relative to the working directory; what
    ``prefect deployment run --param config=edit.xml`` passes, see docs/deployments.md).
    ``error_option="auto"`` sends rollback-on-error where the server announces it;
    ``discard_changes_first`` drops another session's uncommitted candidate changes first.
    ``confirmed=True``: a confirmed commit (``confirm_timeout`` seconds), checked in a new
    session (the edit in effect unless ``verify=False``; ``check_xpath`` with
    ``check_namespaces`` on a ``<get>`` of ``check_filter``), then confirmed, or cancelled and
    reported ``rolled_back``. Returns the result tree and publishes a ``genja-netconf-edit``
    artifact with the diffs."""
    job = NetconfEditConfig(config_text(config), target=target, default_operation=default_operation,
                            error_option=error_option, discard_changes_first=discard_changes_first,
                            confirmed=confirmed, confirm_timeout=confirm_timeout, verify=verify,
                            check_xpath=check_xpath, check_namespaces=check_namespaces, check_filter=check_filter)
    genja = build_runtime(settings, filter, workers, runner, job="netconf_edit_config", needs=["ncclient"])
    results = genja.run_tasks([job])
    tree: dict[str, Any] = results_payload(results)
    lines = ["# NETCONF edit-config", ""]
    for host_id, entry in tree["hosts"].items():
        lines.append(f"- `{host_id}`: {entry.get('status')}: {entry.get('summary') or entry.get('message') or ''}")
        if entry.get("diff"):
            lines += ["", "```diff", mask_secrets(entry["diff"]).rstrip("\n"), "```", ""]
    publish_markdown("genja-netconf-edit", "\n".join(lines), "NETCONF edit-config: diffs per host")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def __getattr__(name: str) -> Any:
    # The Prefect flows (``netconf_get_config``, ``netconf_edit_config``) are made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)

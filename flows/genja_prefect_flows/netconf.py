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
"""

from __future__ import annotations

import os
from typing import Any

from genja_prefect.errors import GenjaError
from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import FlowParameterError, build_runtime, call, finish_job, logger, publish_markdown, results_payload
from genja_prefect_flows.configtext import mask_secrets, unified_diff

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


@task(name="netconf_edit_config")
class NetconfEditConfig:
    """``<edit-config>`` with ``config`` (XML, with or without the ``<config>`` wrapper).

    ``target="auto"`` uses candidate + commit when the server has ``:candidate``, else running;
    ``"candidate"`` or ``"running"`` force one. The target is locked for the edit.
    ``changed`` tells whether the running config differs afterwards (``diff`` shows how).
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
    ) -> None:
        if target not in ("auto", "candidate", "running"):
            raise FlowParameterError(f"target must be 'auto', 'candidate' or 'running', not {target!r}")
        if default_operation not in ("merge", "replace", "none"):
            raise FlowParameterError(f"default_operation must be 'merge', 'replace' or 'none', not {default_operation!r}")
        if error_option not in ERROR_OPTIONS:
            raise FlowParameterError(f"error_option must be one of {', '.join(ERROR_OPTIONS)}, not {error_option!r}")
        self.config = config_element(config)
        self.target = target
        self.default_operation = default_operation
        self.error_option = error_option
        self.discard_changes_first = discard_changes_first
        # default-operation replace rewrites the whole datastore: only a full read shows it.
        self.filter = None if default_operation == "replace" else edit_filter(self.config)

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
        try:
            try:
                # Read under the lock: nobody changes it between this copy and the edit.
                before = pretty_xml(reply_xml(call(connection, "get_config", "running", self.filter)))
                step = "edit-config"
                call(connection, "edit_config", self.config, target, self.default_operation, error_option)
                if target == "candidate":
                    step = "commit"
                    call(connection, "commit")
                step = "get-config"
                after = pretty_xml(reply_xml(call(connection, "get_config", "running", self.filter)))
            except Exception:
                if target == "candidate" and step != "get-config":
                    _quietly(connection, "discard_changes", (), host, warnings)
                raise
        except _rpc_error_types() as exc:
            return _failure(step, target, host, exc, warnings)
        finally:
            _quietly(connection, "unlock", (target,), host, warnings)
        changed = before != after
        diff = mask_secrets(unified_diff(before, after, f"{host.id} running (before)", f"{host.id} running (after)"))
        return TaskSuccessResult(
            result={
                "target": target,
                "default_operation": self.default_operation,
                "error_option": error_option,
                "discarded_first": self.discard_changes_first and target == "candidate",
                "filter": self.filter,
            },
            changed=changed,
            diff=diff or None,
            summary=f"edit-config on {target}" + (" + commit" if target == "candidate" else "")
            + (": running config changed" if changed else ": no change"),
            warnings=warnings,
        )


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


def netconf_edit_config_check(config: str, target: str = "auto", default_operation: str = "merge", **_common: Any) -> None:
    """Raise what :func:`netconf_edit_config_job` would raise for these parameters, before any run."""
    NetconfEditConfig(config_text(config), target=target, default_operation=default_operation)


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
) -> dict[str, Any]:
    """``<edit-config>`` with ``config`` on every selected NETCONF host: candidate + commit
    when the server supports it (``target="auto"``), else running, under a lock. ``config`` is
    the XML itself or the path of a file holding it (relative to the working directory; what
    ``prefect deployment run --param config=edit.xml`` passes, see docs/deployments.md).
    ``error_option="auto"`` sends rollback-on-error where the server announces it;
    ``discard_changes_first`` drops another session's uncommitted candidate changes first.
    Returns the result tree and publishes a ``genja-netconf-edit`` artifact with the diffs."""
    job = NetconfEditConfig(config_text(config), target=target, default_operation=default_operation,
                            error_option=error_option, discard_changes_first=discard_changes_first)
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

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
datastore followed by ``commit`` when the server has ``:candidate``, else running. On an error
the candidate's changes are discarded and the lock released before the host fails. The
host result's ``diff`` compares the running config before and after.
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

__all__ = ["NetconfEditConfig", "NetconfGetConfig", "NetconfXmlError", "netconf_edit_config", "netconf_edit_config_job", "netconf_get_config", "netconf_get_config_job"]

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
CANDIDATE = "urn:ietf:params:netconf:capability:candidate:1.0"
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
    return any(c.startswith(CANDIDATE.rsplit(":", 1)[0]) or c == ":candidate" for c in server_capabilities(connection))


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

    def __init__(self, config: str, *, target: str = "auto", default_operation: str = "merge") -> None:
        if target not in ("auto", "candidate", "running"):
            raise FlowParameterError(f"target must be 'auto', 'candidate' or 'running', not {target!r}")
        if default_operation not in ("merge", "replace", "none"):
            raise FlowParameterError(f"default_operation must be 'merge', 'replace' or 'none', not {default_operation!r}")
        self.config = config_element(config)
        self.target = target
        self.default_operation = default_operation

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        connection = context.get_connection(self.connection_plugin)
        target = self.target
        if target == "auto":
            target = "candidate" if supports_candidate(connection) else "running"
        before = pretty_xml(reply_xml(call(connection, "get_config", "running", None)))
        call(connection, "lock", target)
        warnings: list[str] = []
        step = "edit-config"
        try:
            try:
                call(connection, "edit_config", self.config, target, self.default_operation)
                if target == "candidate":
                    step = "commit"
                    call(connection, "commit")
            except Exception:
                if target == "candidate":
                    _quietly(connection, "discard_changes", (), host, warnings)
                raise
        except _rpc_error_types() as exc:
            return TaskFailureResult(
                message=f"{step} on {target} rejected by {host.id}: {exc}",
                kind=TaskFailureKind.COMMAND,
                details={"target": target, "step": step},
                warnings=warnings,
            )
        finally:
            _quietly(connection, "unlock", (target,), host, warnings)
        after = pretty_xml(reply_xml(call(connection, "get_config", "running", None)))
        changed = before != after
        diff = mask_secrets(unified_diff(before, after, f"{host.id} running (before)", f"{host.id} running (after)"))
        return TaskSuccessResult(
            result={"target": target, "default_operation": self.default_operation},
            changed=changed,
            diff=diff or None,
            summary=f"edit-config on {target}" + (" + commit" if target == "candidate" else "")
            + (": running config changed" if changed else ": no change"),
            warnings=warnings,
        )


def _quietly(connection: Any, method: str, args: tuple[Any, ...], host: Host, warnings: list[str]) -> None:
    """Clean-up calls (discard-changes, unlock): a failure becomes a warning on the host result,
    so that the edit's own outcome is the one reported."""
    try:
        call(connection, method, *args)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        text = f"{method.replace('_', '-')} on {host.id} failed: {exc}"
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
) -> dict[str, Any]:
    """``<edit-config>`` with ``config`` on every selected NETCONF host: candidate + commit
    when the server supports it (``target="auto"``), else running, under a lock. ``config`` is
    the XML itself or the path of a file holding it (relative to the working directory; what
    ``prefect deployment run --param config=edit.xml`` passes, see docs/deployments.md).
    Returns the result tree and publishes a ``genja-netconf-edit`` artifact with the diffs."""
    job = NetconfEditConfig(config_text(config), target=target, default_operation=default_operation)
    genja = build_runtime(settings, filter, workers, runner, job="netconf_edit_config", needs=["ncclient"])
    results = genja.run_tasks([job])
    tree: dict[str, Any] = results_payload(results)
    lines = ["# NETCONF edit-config", ""]
    for host_id, entry in tree["hosts"].items():
        lines.append(f"- `{host_id}`: {entry.get('status')}: {entry.get('summary') or entry.get('message') or ''}")
        if entry.get("diff"):
            lines += ["", "```diff", entry["diff"].rstrip("\n"), "```", ""]
    publish_markdown("genja-netconf-edit", "\n".join(lines), "NETCONF edit-config: diffs per host")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def __getattr__(name: str) -> Any:
    # The Prefect flows (``netconf_get_config``, ``netconf_edit_config``) are made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)

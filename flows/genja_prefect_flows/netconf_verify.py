"""The checks after a NETCONF confirmed commit: is the edit in effect, and do the user's own
checks pass? Pure functions on XML text; :class:`~genja_prefect_flows.netconf.NetconfEditConfig`
reads the device (in a new session) and decides between confirming and rolling back.

Three checks, all optional but the first on by default:

- **the edit is in effect** (:func:`intent_problems`): every leaf the ``<config>`` sets is in
  the running config with that value (list entries found by their key leaf), and what it
  deletes or removes (``nc:operation="delete"``/``"remove"``) is gone. With
  ``default_operation="none"`` only the subtrees that carry an operation count.
- **an XPath** (:class:`XPathCheck`): an XPath 1.0 expression on the ``<get>`` reply
  (configuration and state data), true when it selects something or is true/non-zero/non-empty.
  Prefixes come from ``namespaces``; ``local-name()`` works without any.
- **a Python callable** (tasks only, not a flow parameter): called with the ``<get>`` reply's
  XML text; ``True``/``None`` passes, ``False`` fails, a string fails with that message.

Example::

    from genja_prefect_flows.netconf_verify import XPathCheck, intent_problems

    IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
    config = f'<config><interfaces xmlns="{IF}"><interface><name>eth1</name><mtu>9000</mtu></interface></interfaces></config>'
    intent_problems(config, running_xml, "merge")   # [] when eth1's mtu is 9000
    XPathCheck("//if:interface[if:name='eth1']/if:enabled = 'true'", {"if": IF}).problem(get_xml)  # None: passed
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

try:
    from lxml import etree
except ImportError:  # the devices extra; netconf.py reports a missing lxml before this is used
    etree = None

__all__ = ["OPERATION", "UserCheck", "XPathCheck", "intent_problems", "run_user_check"]

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
OPERATION = f"{{{BASE_NS}}}operation"
#: Leaf names that identify a list entry when they come first (as in netconf.edit_filter).
KEY_LEAVES = frozenset({"name", "id", "key", "index", "vlan-id", "sequence-id", "prefix", "address", "ip"})
# Leaves whose value is a secret: a problem names them without their value.
_SECRET_LEAF = re.compile(
    r"^(?:password|secret|community|key|passphrase|key-string|ascii-text|pre-shared-key|[\w-]*-password|[\w-]*-key)$",
    re.IGNORECASE,
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True) if etree else None

#: A user check: gets the ``<get>`` reply's XML; True/None passes, False fails, a string is
#: the failure message.
UserCheck = Callable[[str], "bool | str | None"]


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _elements(parent: Any) -> list[Any]:
    return [child for child in parent if isinstance(child.tag, str)]


def _key_of(element: Any) -> Any | None:
    """The key leaf of a list entry (its first child, a leaf named like a key), or None."""
    children = _elements(element)
    first = children[0] if children else None
    if first is not None and len(first) == 0 and _local(first) in KEY_LEAVES and (first.text or "").strip():
        return first
    return None


@dataclass(frozen=True)
class _Expectation:
    """One thing the edit promises: ``steps`` lead to a leaf with ``value`` (present) or to a
    node that must not exist (absent)."""

    steps: tuple[Any, ...]  # the config's elements, outermost first
    present: bool
    value: str | None

    def path(self) -> str:
        parts = []
        for step in self.steps:
            key = _key_of(step)
            parts.append(_local(step) + (f"[{_local(key)}='{(key.text or '').strip()}']" if key is not None else ""))
        return "/" + "/".join(parts)


def _expectations(config: Any, default_operation: str) -> Iterator[_Expectation]:
    def walk(element: Any, steps: tuple[Any, ...], operation: str) -> Iterator[_Expectation]:
        own = element.get(OPERATION)
        operation = own or operation
        here = (*steps, element)
        if operation in ("delete", "remove"):
            yield _Expectation(here, present=False, value=None)
            return
        children = _elements(element)
        if not children:
            if operation != "none":
                text = (element.text or "").strip()
                yield _Expectation(here, present=True, value=text or None)
            return
        key = _key_of(element)
        for child in children:
            if child is key and operation != "none":
                continue  # the key is checked by finding the entry at all
            yield from walk(child, here, operation)
        if key is not None and operation != "none" and len(children) == 1:
            yield _Expectation(here, present=True, value=None)  # a bare list entry: it must exist

    for top in _elements(config):
        yield from walk(top, (), default_operation)


def _same_tag(config_tag: str, data_tag: str) -> bool:
    # A config element without a namespace matches by local name, as lenient servers take it.
    return config_tag == data_tag or ("}" not in config_tag and data_tag.rsplit("}", 1)[-1] == config_tag)


def _find(parent: Any, step: Any) -> Any | None:
    """The child of ``parent`` that the config element ``step`` names (same namespace and
    name; for list entries the same key value)."""
    key = _key_of(step)
    for candidate in _elements(parent):
        if not _same_tag(step.tag, candidate.tag):
            continue
        if key is None:
            return candidate
        if any(_same_tag(key.tag, c.tag) and (c.text or "").strip() == (key.text or "").strip() for c in _elements(candidate)):
            return candidate
    return None


def intent_problems(config: str, running_xml: str, default_operation: str = "merge") -> list[str]:
    """What of the edit ``config`` (a ``<config>`` element's XML) is not in effect in
    ``running_xml`` (a ``<data>`` reply): one line per leaf or deleted node; [] when all is."""
    root = etree.fromstring(config.strip().encode("utf-8"), _PARSER)
    data = etree.fromstring(running_xml.strip().encode("utf-8"), _PARSER) if running_xml.strip() else None
    problems: list[str] = []
    for expected in _expectations(root, default_operation):
        node = data
        for step in expected.steps:
            node = _find(node, step) if node is not None else None
        secret = _SECRET_LEAF.match(_local(expected.steps[-1])) is not None
        if not expected.present:
            if node is not None:
                problems.append(f"{expected.path()} is still there (the edit deletes it)")
            continue
        if node is None:
            problems.append(f"{expected.path()} is missing")
        elif expected.value is not None and (node.text or "").strip() != expected.value:
            if secret:
                problems.append(f"{expected.path()} does not have the value the edit set")
            else:
                problems.append(f"{expected.path()} is {(node.text or '').strip()!r}, the edit set {expected.value!r}")
    return problems


class XPathCheck:
    """An XPath 1.0 expression that must hold on the ``<get>`` reply after the commit.

    Compiled (and tried on an empty document) when built, so a syntax error or an undefined
    prefix is an error before any host is contacted.
    """

    def __init__(self, expression: str, namespaces: Mapping[str, str] | None = None) -> None:
        self.expression = expression
        self.namespaces = dict(namespaces or {})
        try:
            self._xpath = etree.XPath(expression, namespaces=self.namespaces)
            self._xpath(etree.Element("data"))
        except (etree.XPathSyntaxError, etree.XPathEvalError) as exc:
            raise ValueError(f"check_xpath: not a usable XPath 1.0 expression ({exc}): {expression!r}"
                             + ("" if self.namespaces else "; give prefixes in check_namespaces")) from None

    def __reduce__(self) -> tuple[Any, ...]:
        return (XPathCheck, (self.expression, self.namespaces))  # lxml's compiled XPath does not pickle

    def problem(self, get_xml: str) -> str | None:
        """None when the expression holds on ``get_xml``, else what went wrong."""
        root = etree.fromstring(get_xml.strip().encode("utf-8"), _PARSER) if get_xml.strip() else etree.Element("data")
        value = self._xpath(root)
        if isinstance(value, list):
            holds = bool(value)
        elif isinstance(value, (bool, float)):
            holds = bool(value)
        else:
            holds = bool(str(value))
        return None if holds else f"check_xpath {self.expression!r} does not hold"


def run_user_check(check: UserCheck, get_xml: str) -> str | None:
    """Run a user's check callable on the ``<get>`` reply: None when it passed, else why not."""
    name = getattr(check, "__name__", type(check).__name__)
    try:
        verdict = check(get_xml)
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed verification
        return f"check {name} raised {type(exc).__name__}: {exc}"
    if verdict is None or verdict is True:
        return None
    if isinstance(verdict, str):
        return f"check {name}: {verdict}"
    return f"check {name} returned {verdict!r}"

"""Host selection: keyword filters like ``filter(platform="ios", groups__contains="core")``.

A keyword is a path of ``__``-separated names, optionally ending in an operator. The first
name is a host attribute (``id``/``name``, ``hostname``, ``port``, ``username``,
``platform``, ``groups``), ``data``, or else a key of the host's merged ``data``; further
names look inside nested mappings. Operators: ``eq`` (default), ``ne``, ``contains``, ``in``,
``any``, ``all``, ``startswith``, ``endswith``, ``gt``, ``ge``, ``lt``, ``le``, ``exists``.
All keywords must match.

genja-py's two key filters (``filter_by_key``, ``filter_by_key_value``) follow genja-py's own
rules instead (see :func:`key_filter` and :func:`key_value_filter`): the host is seen as one
document of its fixed fields (``hostname``, ``port``, ``username``, ``platform``, ``groups``)
and its merged ``data``; a plain key matches at any depth, a dot path from the root or from
any nested mapping, lists are looked through, and values are matched with a regular
expression (``re.search``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from genja_prefect.errors import FilterError as FilterError  # defined there, importable from here
from genja_prefect.task import Host

_ATTRIBUTES = {"id", "name", "hostname", "port", "username", "platform", "groups"}
_MISSING = object()


def _contains(a: Any, b: Any) -> bool:
    return a is not _MISSING and a is not None and b in a


def _coll(b: Any) -> Collection[Any]:
    return b if isinstance(b, Collection) and not isinstance(b, str) else [b]


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "contains": _contains,
    "in": lambda a, b: a in _coll(b),
    "any": lambda a, b: a is not _MISSING and a is not None and any(x in a for x in _coll(b)),
    "all": lambda a, b: a is not _MISSING and a is not None and all(x in a for x in _coll(b)),
    "startswith": lambda a, b: isinstance(a, str) and a.startswith(b),
    "endswith": lambda a, b: isinstance(a, str) and a.endswith(b),
    "gt": lambda a, b: a is not _MISSING and a is not None and a > b,
    "ge": lambda a, b: a is not _MISSING and a is not None and a >= b,
    "lt": lambda a, b: a is not _MISSING and a is not None and a < b,
    "le": lambda a, b: a is not _MISSING and a is not None and a <= b,
    "exists": lambda a, b: (a is not _MISSING) == bool(b),
}


def lookup(host: Host, path: list[str]) -> Any:
    """The value at ``path`` for a host, or a private MISSING marker."""
    first, rest = path[0], path[1:]
    if first in ("id", "name"):
        value: Any = host.id
    elif first in _ATTRIBUTES:
        value = getattr(host, first)
    elif first == "data":
        value = host.data
    else:
        value = host.data.get(first, _MISSING)
    for key in rest:
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return _MISSING
    return value


def compile_filter(**criteria: Any) -> Callable[[Host], bool]:
    """Build a predicate from keyword criteria; unknown operators are errors."""
    checks: list[tuple[list[str], Callable[[Any, Any], bool], Any]] = []
    for key, expected in criteria.items():
        parts = key.split("__")
        op = "eq"
        if len(parts) > 1 and parts[-1] in OPERATORS:
            op = parts.pop()
        if not parts or not all(parts):
            raise ValueError(f"invalid filter keyword '{key}'")
        if isinstance(expected, tuple) and op == "eq":
            expected = list(expected)
        checks.append((parts, OPERATORS[op], expected))

    def predicate(host: Host) -> bool:
        for path, fn, expected in checks:
            value = lookup(host, path)
            if isinstance(value, tuple):
                value = list(value)
            if not fn(value, expected):
                return False
        return True

    return predicate


def check_filter_keys(hosts: Collection[Host], criteria: Mapping[str, Any]) -> None:
    """Raise :class:`FilterError` for a keyword that could never match because of a typo.

    A keyword's first name must be a host attribute, ``data``, or a data key of at least one
    host of the inventory; after an attribute only an operator may follow. ``data__KEY`` is
    always accepted (a data key no host has yet). Without this check ``platfrom="ios"``
    would quietly select no host.
    """
    data_keys: set[str] = set()
    for host in hosts:
        data_keys.update(str(k) for k in host.data)
    attributes = sorted(_ATTRIBUTES)
    for key in criteria:
        parts = key.split("__")
        if len(parts) > 1 and parts[-1] in OPERATORS:
            parts.pop()
        first = parts[0]
        if first in _ATTRIBUTES and len(parts) > 1:
            raise FilterError(
                f"filter: unknown operator '{parts[1]}' in '{key}' (operators: {', '.join(OPERATORS)})", key=key
            )
        if first in _ATTRIBUTES or first == "data" or first in data_keys:
            continue
        raise FilterError(
            f"filter: unknown key '{key}': '{first}' is neither a host attribute ({', '.join(attributes)}) nor a data key of "
            f"any host ({', '.join(sorted(data_keys)) or 'none'}); check the spelling, or write "
            f"data__{first} for a data key no host has yet",
            key=key,
        )


def describe(criteria: Mapping[str, Any]) -> str:
    """A keyword filter in one line, as run names show it: ``platform=ios groups__contains=core``."""
    return " ".join(f"{key}={value}" for key, value in criteria.items())


def _host_document(host: Host) -> dict[str, Any]:
    """The host as genja-py's filters see it: set fixed fields and the merged data."""
    doc: dict[str, Any] = {"hostname": host.hostname}
    for name in ("port", "username", "platform"):
        value = getattr(host, name)
        if value is not None:
            doc[name] = value
    if host.groups:
        doc["groups"] = list(host.groups)
    doc["data"] = host.data
    return doc


def _key_path(key: str) -> list[str]:
    # genja-py separates levels with dots; this project's keyword filters with "__".
    separator = "." if "." in key or "__" not in key else "__"
    return [part for part in key.split(separator) if part]


def _text(value: Any) -> str:
    """A value as the text a pattern is matched against (genja-py's rules: JSON for
    null, booleans, lists and mappings; numbers and strings as written)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, list, tuple, Mapping)):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def _values_at(value: Any, path: list[str]) -> list[Any]:
    """Values at ``path`` followed from ``value`` (through lists on the way), or [] if it is
    absent. The value at the end is whole: a list is matched as its JSON text, as genja-py does."""
    if not path:
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _values_at(item, path)]
    if isinstance(value, Mapping) and path[0] in value:
        return _values_at(value[path[0]], path[1:])
    return []


def _find(value: Any, path: list[str], test: Callable[[Any], bool]) -> bool:
    """True when ``path`` leads from ``value`` or from any value nested in it to a value
    that passes ``test`` (a one-name path is a key at any depth)."""
    if isinstance(value, Mapping):
        if path[0] in value and any(test(v) for v in _values_at(value[path[0]], path[1:])):
            return True
        return any(_find(v, path, test) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_find(v, path, test) for v in value)
    return False


def key_filter(key: str) -> Callable[[Host], bool]:
    """genja-py's ``filter_by_key``: hosts where ``key`` exists (plain key at any depth, or a
    dot path from the root or from any nested mapping; ``__`` separators work too)."""
    path = _key_path(key)
    if not path:
        return lambda host: False
    return lambda host: _find(_host_document(host), path, lambda v: True)


def key_value_filter(key: str, value_pattern: Any) -> Callable[[Host], bool]:
    """genja-py's ``filter_by_key_value``: hosts where ``key`` (as in :func:`key_filter`) has a
    value matching ``value_pattern``, a regular expression searched anywhere in the value's
    text (``"core"`` matches ``core-2``; anchor it, ``"^core$"``, for the whole value).

    Raises :class:`FilterError` for an invalid regular expression. A non-string pattern
    matches values equal to it (``22`` matches port 22).
    """
    if isinstance(value_pattern, str):
        try:
            regex = re.compile(value_pattern)
        except re.error as exc:
            raise FilterError(
                f"filter_by_key_value({key!r}, {value_pattern!r}): invalid value regex: {exc}; "
                f"escape special characters (re.escape) to match them literally"
            ) from None
    else:
        regex = re.compile(f"^{re.escape(_text(value_pattern))}$")
    path = _key_path(key)
    if not path:
        return lambda host: False
    search = regex.search
    return lambda host: _find(_host_document(host), path, lambda v: search(_text(v)) is not None)

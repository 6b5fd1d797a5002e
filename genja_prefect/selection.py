"""Host selection: keyword filters like ``filter(platform="ios", groups__contains="core")``.

A keyword is a path of ``__``-separated names, optionally ending in an operator. The first
name is a host attribute (``id``/``name``, ``hostname``, ``port``, ``username``,
``platform``, ``groups``), ``data``, or else a key of the host's merged ``data``; further
names look inside nested mappings. Operators: ``eq`` (default), ``ne``, ``contains``, ``in``,
``any``, ``all``, ``startswith``, ``endswith``, ``gt``, ``ge``, ``lt``, ``le``, ``exists``.
All keywords must match.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping
from typing import Any

from genja_prefect.errors import FilterError
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
                f"unknown operator '{parts[1]}' in '{key}' (operators: {', '.join(OPERATORS)})", key=key
            )
        if first in _ATTRIBUTES or first == "data" or first in data_keys:
            continue
        raise FilterError(
            f"unknown key '{key}': '{first}' is neither a host attribute ({', '.join(attributes)}) nor a data key of "
            f"any host ({', '.join(sorted(data_keys)) or 'none'}); check the spelling, or write "
            f"data__{first} for a data key no host has yet",
            key=key,
        )


def has_key(host: Host, key: str) -> bool:
    """True when the host has ``key`` as a set attribute or a data key (``a__b`` for nested)."""
    value = lookup(host, key.split("__"))
    return value is not _MISSING and value is not None


def key_matches(host: Host, key: str, pattern: Any) -> bool:
    """True when the value at ``key`` matches: a glob pattern for strings, equality otherwise."""
    value = lookup(host, key.split("__"))
    if value is _MISSING:
        return False
    if isinstance(pattern, str):
        if isinstance(value, (list, tuple, set)):
            return any(fnmatch.fnmatchcase(str(v), pattern) for v in value)
        return fnmatch.fnmatchcase(str(value), pattern)
    return bool(value == pattern)


def describe(criteria: Mapping[str, Any]) -> str:
    """A keyword filter in one line, as run names show it: ``platform=ios groups__contains=core``."""
    return " ".join(f"{key}={value}" for key, value in criteria.items())

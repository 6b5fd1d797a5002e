"""Choosing exactly one connection plugin for a host (the plugin-resolution rules).

1. Keep plugins registered for the platform (``"*"`` in ``platforms`` matches any).
2. Keep those of ``connection_type``, if given; 3. of ``connection_library``, if given.
   None left: :class:`PluginNotFoundError`.
4. If capabilities are required, prefer plugins implementing all of them; 5. if none does,
   take the single best scorer (most capabilities), a tie is :class:`AmbiguousPluginError`.
6. One candidate left: it. 7. Several: with ``fallback_to_default=True`` the
   (platform, connection_type) default (only when a type was given), then the platform
   default; otherwise, or with no default among them, :class:`AmbiguousPluginError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from genja_prefect.connection import (
    AmbiguousPluginError,
    PluginNotFoundError,
    capability_methods,
    plugin_spec,
)
from genja_prefect.plugins import PluginManager, default_plugin_manager

logger = logging.getLogger(__name__)

_SUGGESTIONS = (
    "Specify connection_library explicitly.",
    "Register a default with @register_connection_plugin(default_for_connection_type=True).",
)


def _describe(criteria: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v not in (None, ()))


def _score(plugin: Any, capabilities: Sequence[type]) -> int:
    spec = plugin_spec(plugin)
    declared = spec.capabilities if spec else ()
    return sum(1 for cap in capabilities if any(cap in getattr(d, "__mro__", (d,)) for d in declared))


def resolve_connection_plugin_name(
    platform: str | None,
    connection_type: str | None = None,
    connection_library: str | None = None,
    capabilities: Sequence[type] = (),
    fallback_to_default: bool = False,
    plugin_manager: PluginManager | None = None,
) -> str:
    """Like :func:`resolve_connection_plugin` but returns the plugin's registered name."""
    manager = plugin_manager or default_plugin_manager()
    criteria = {
        "platform": platform,
        "connection_type": connection_type,
        "connection_library": connection_library,
        "capabilities": tuple(c.__name__ for c in capabilities),
    }
    registered = {
        name: plugin for name, plugin in manager.plugins("connection").items() if plugin_spec(plugin)
    }
    candidates = {
        name: p
        for name, p in registered.items()
        if platform is not None and (platform in plugin_spec(p).platforms or "*" in plugin_spec(p).platforms)  # type: ignore[union-attr]
    }
    if connection_type is not None:
        candidates = {n: p for n, p in candidates.items() if plugin_spec(p).connection_type == connection_type}  # type: ignore[union-attr]
    if connection_library is not None:
        candidates = {n: p for n, p in candidates.items() if plugin_spec(p).connection_library == connection_library}  # type: ignore[union-attr]
    if not candidates:
        known = ", ".join(
            f"{n} (platforms={list(plugin_spec(p).platforms)}, type={plugin_spec(p).connection_type}, "  # type: ignore[union-attr]
            f"library={plugin_spec(p).connection_library})"  # type: ignore[union-attr]
            for n, p in sorted(registered.items())
        ) or "none"
        hint = "" if platform else " (the host has no platform: set `platform` in the inventory)"
        raise PluginNotFoundError(
            f"no connection plugin matches {_describe(criteria)}{hint}; registered connection plugins: {known}"
        )
    names = sorted(candidates)
    if capabilities:
        scores = {n: _score(candidates[n], capabilities) for n in names}
        full = [n for n in names if scores[n] == len(capabilities)]
        if not full:
            best = max(scores.values())
            top = [n for n in names if scores[n] == best]
            if len(top) == 1:
                return top[0]
            raise _ambiguous(criteria, top, candidates, f"tie on capability score {best}")
        names = full
    if len(names) == 1:
        return names[0]
    if fallback_to_default and platform is not None:
        if connection_type is not None:
            default = manager.default_for(platform, connection_type)
            if default in names:
                return default
        default = manager.default_for(platform)
        if default in names:
            return default
        raise _ambiguous(criteria, names, candidates, "no default among them")
    raise _ambiguous(criteria, names, candidates, "pass fallback_to_default=True to use a default")


def resolve_connection_plugin(
    platform: str | None,
    connection_type: str | None = None,
    connection_library: str | None = None,
    capabilities: Sequence[type] = (),
    fallback_to_default: bool = False,
    plugin_manager: PluginManager | None = None,
) -> Any:
    """Return the one registered connection plugin that serves these criteria.

    Raises :class:`PluginNotFoundError` or :class:`AmbiguousPluginError` (which lists the
    candidates, their capabilities and what to do).
    """
    manager = plugin_manager or default_plugin_manager()
    name = resolve_connection_plugin_name(
        platform, connection_type, connection_library, capabilities, fallback_to_default, manager
    )
    return manager.get("connection", name)


def _ambiguous(criteria: dict[str, Any], names: list[str], candidates: dict[str, Any], why: str) -> AmbiguousPluginError:
    lines = []
    for n in names:
        spec = plugin_spec(candidates[n])
        caps = ", ".join(spec.capability_names) if spec and spec.capability_names else "none"
        lines.append(f"  - {n} (library={spec.connection_library if spec else None}, capabilities: {caps})")
    return AmbiguousPluginError(
        f"{len(names)} connection plugins match {_describe(criteria)} ({why}):\n"
        + "\n".join(lines)
        + "\nTo resolve:\n"
        + "\n".join(f"  - {s}" for s in _SUGGESTIONS)
    )


"""The plugin manager: registered connection, runner, processor, inventory and transform plugins.

Installed packages contribute plugins through entry points (groups
``genja_prefect.connection``, ``genja_prefect.runner``, ``genja_prefect.processor``,
``genja_prefect.inventory``, ``genja_prefect.transform``), discovered the first time a
manager is asked for a plugin. A plugin registered in code under the same name replaces an
installed one.

Example::

    plugins = genja_prefect.PluginManager()
    plugins.register_plugin(SshPlugin())
    plugins.plugin_names_and_groups()   # [('FileInventoryPlugin', 'inventory'), ..., ('ssh', 'connection')]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import Any, TypeVar

from genja_prefect.connection import (
    ConnectionPluginBase,
    PluginRegistrationError,
    plugin_spec,
)
from genja_prefect.errors import PluginError, PluginKindError, PluginNotRegisteredError
from genja_prefect.inventory import InventoryPluginBase
from genja_prefect.processor import ProcessorPluginBase
from genja_prefect.protocol_plugins import adapt, is_protocol_plugin
from genja_prefect.runner import RunnerPluginBase

logger = logging.getLogger(__name__)

KINDS = ("connection", "runner", "processor", "inventory", "transform")
ENTRY_POINT_GROUPS = {kind: f"genja_prefect.{kind}" for kind in KINDS}
_BASES: tuple[tuple[type, str], ...] = (
    (ConnectionPluginBase, "connection"),
    (RunnerPluginBase, "runner"),
    (ProcessorPluginBase, "processor"),
    (InventoryPluginBase, "inventory"),
)


#: This distribution's own plugins (the built-in runners and the file inventory): registered in
#: pyproject.toml's entry points like anyone's, and present even in a manager built with
#: ``discover=False`` (which skips other packages' plugins).
_DISTRIBUTION = "genja-prefect"
_BUILTIN_GROUPS = ("runner", "inventory")
_builtin_entry_points: list[tuple[str, EntryPoint]] | None = None
_builtin_lock = threading.Lock()


def _builtins() -> list[tuple[str, Any]]:
    """``(kind, plugin instance)`` for each of this distribution's runner and inventory plugins."""
    global _builtin_entry_points
    with _builtin_lock:
        if _builtin_entry_points is None:
            groups = {ENTRY_POINT_GROUPS[k]: k for k in _BUILTIN_GROUPS}
            try:
                eps = distribution(_DISTRIBUTION).entry_points
            except PackageNotFoundError:
                raise PluginError(
                    "genja-prefect is not installed (its built-in runners are registered through its "
                    "package metadata): install it, e.g. pip install -e ."
                ) from None
            found = [(groups[ep.group], ep) for ep in eps if ep.group in groups]
            if not any(kind == "runner" for kind, _ in found):
                raise PluginError(
                    "genja-prefect's installed package metadata lists no built-in runners (an "
                    "install from before they became entry points): reinstall it, e.g. pip install -e ."
                )
            _builtin_entry_points = found
    return [(kind, ep.load()()) for kind, ep in _builtin_entry_points]


def is_builtin(plugin: object) -> bool:
    """First-party plugins (genja_prefect and its genja_prefect_* plugin packages)."""
    module = type(plugin).__module__ if not isinstance(plugin, type) else plugin.__module__
    return module.split(".")[0].startswith("genja_prefect")


def _kind_of(plugin: object) -> str | None:
    klass = plugin if isinstance(plugin, type) else type(plugin)
    for base, kind in _BASES:
        if issubclass(klass, base):
            return kind
    return None


_Scope = TypeVar("_Scope")


def _drop_scopes(table: dict[_Scope, str], name: str) -> None:
    """Remove every scope of a defaults table whose default plugin is ``name``."""
    for scope in [s for s, n in table.items() if n == name]:
        del table[scope]


class PluginManager:
    """Holds plugins by kind and name; thread-safe."""

    def __init__(self, *, discover: bool = True) -> None:
        self._plugins: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self._platform_defaults: dict[str, str] = {}
        self._type_defaults: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        self._discovered: set[str] = set() if discover else set(KINDS)
        self.discovery_errors: dict[str, str] = {}
        for kind, builtin in _builtins():
            self._add(builtin, kind, builtin.name)

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to Dask workers: everything but the lock (and discovery is already done).
        self._ensure_discovered()
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------------
    def register_plugin(self, plugin: Any, *, kind: str | None = None, name: str | None = None) -> Any:
        """Register a plugin instance (a class is instantiated with no arguments).

        The kind comes from the base class (ConnectionPluginBase, RunnerPluginBase,
        ProcessorPluginBase, InventoryPluginBase); transform functions are registered with
        ``kind="transform"``. The name comes from ``plugin.name`` unless given.
        """
        if isinstance(plugin, type) and kind != "transform":
            plugin = plugin()
        if _kind_of(plugin) is None and is_protocol_plugin(plugin):
            # genja-py's shape: name() and group() methods instead of a base class.
            kind, adapted_name, plugin = adapt(plugin, self)
            name = name or adapted_name
        detected = _kind_of(plugin)
        kind = kind or detected
        if kind is None:
            raise PluginError(
                f"cannot tell what kind of plugin {plugin!r} is: subclass ConnectionPluginBase, "
                f"RunnerPluginBase, ProcessorPluginBase or InventoryPluginBase, or pass kind='transform'"
            )
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind '{kind}' (kinds: {', '.join(KINDS)})")
        if detected is not None and detected != kind:
            raise PluginKindError(getattr(plugin, "name", repr(plugin)), kind, [detected])
        if kind == "transform" and not callable(plugin):
            raise PluginError(f"transform plugin {plugin!r} is not callable")
        plugin_name = name or getattr(plugin, "name", None) or getattr(plugin, "__name__", None)
        if not plugin_name or not isinstance(plugin_name, str):
            raise PluginError(f"plugin {plugin!r} has no name: set the class attribute `name`")
        self._ensure_discovered(kind)
        with self._lock:
            self._add(plugin, kind, plugin_name)
        return plugin

    def _add(self, plugin: Any, kind: str, name: str) -> None:
        with self._lock:
            if kind == "connection":
                self._drop_defaults(name)
                self._claim_defaults(plugin, name)
            self._plugins[kind][name] = plugin

    def deregister_plugin(self, name: str, kind: str | None = None) -> None:
        """Remove a plugin by name (of one kind, or of every kind it is registered as)."""
        self._ensure_discovered()
        with self._lock:
            kinds = [kind] if kind else [k for k in KINDS if name in self._plugins[k]]
            if not kinds or not any(name in self._plugins[k] for k in kinds):
                raise PluginNotRegisteredError(kind or "any", name, self.plugin_names())
            for k in kinds:
                if self._plugins[k].pop(name, None) is not None and k == "connection":
                    self._drop_defaults(name)

    def _claim_defaults(self, plugin: Any, name: str) -> None:
        spec = plugin_spec(plugin)
        if spec is None:
            return
        scopes: list[tuple[dict[Any, str], Any, str]] = []
        if spec.default_for_platform:
            scopes += [(self._platform_defaults, p, f"platform '{p}'") for p in spec.platforms]
        if spec.default_for_connection_type:
            if not spec.connection_type:
                raise PluginRegistrationError(
                    f"connection plugin '{name}' is default_for_connection_type but has no connection_type"
                )
            scopes += [
                (self._type_defaults, (p, spec.connection_type), f"platform '{p}' + connection type '{spec.connection_type}'")
                for p in spec.platforms
            ]
        accepted = []
        for table, scope, label in scopes:
            current = table.get(scope)
            if current is None or current == name:
                accepted.append((table, scope))
                continue
            current_builtin = is_builtin(self._plugins["connection"][current])
            if current_builtin and not is_builtin(plugin):
                logger.info("user plugin '%s' replaces built-in default '%s' for %s", name, current, label)
                accepted.append((table, scope))
            elif not current_builtin and is_builtin(plugin):
                logger.debug("built-in plugin '%s' is not the default for %s: user plugin '%s' is", name, label, current)
            else:
                raise PluginRegistrationError(
                    f"connection plugins '{current}' and '{name}' are both registered as the default for "
                    f"{label}; keep one default per scope"
                )
        for table, scope in accepted:
            table[scope] = name

    def _drop_defaults(self, name: str) -> None:
        _drop_scopes(self._platform_defaults, name)
        _drop_scopes(self._type_defaults, name)

    def _ensure_discovered(self, *kinds: str) -> None:
        """Load installed plugins of these kinds (all kinds when none is named) once.

        Discovery is per kind so that, e.g., looking up the runner does not import every
        installed connection library.
        """
        wanted = [k for k in (kinds or KINDS) if k not in self._discovered]
        if not wanted:
            return
        with self._lock:
            for kind in wanted:
                if kind in self._discovered:
                    continue
                self._load_entry_points(kind)
                # Only now: another thread that sees the kind as discovered must find its plugins.
                self._discovered.add(kind)

    def _load_entry_points(self, kind: str) -> None:
        group = ENTRY_POINT_GROUPS[kind]
        for ep in entry_points(group=group):
            if ep.name in self._plugins[kind]:
                continue
            try:
                obj = ep.load()
                if isinstance(obj, type) and kind != "transform":
                    obj = obj()
                self._add(obj, kind, ep.name)
            except PluginRegistrationError:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken package must not break all
                self.discovery_errors[f"{group}:{ep.name}"] = f"{type(exc).__name__}: {exc}"
                # A library missing is an extra not installed (scrapli without [devices]): not a
                # fault to warn about on every run of a base install; anything else is.
                level = logging.INFO if isinstance(exc, ModuleNotFoundError) else logging.WARNING
                logger.log(level, "could not load plugin %s from entry point %s: %s", ep.name, group, exc)

    # -- lookup -------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Any:
        """The plugin ``name`` of ``kind``; clear errors for unknown names and wrong kinds."""
        self._ensure_discovered(kind)
        plugin = self._plugins[kind].get(name)
        if plugin is not None:
            return plugin
        self._ensure_discovered()
        other_kinds = [k for k in KINDS if name in self._plugins[k]]
        if other_kinds:
            raise PluginKindError(name, kind, other_kinds)
        raise PluginNotRegisteredError(kind, name, list(self._plugins[kind]))

    def plugins(self, kind: str) -> dict[str, Any]:
        """A snapshot of the plugins of one kind, by name."""
        self._ensure_discovered(kind)
        with self._lock:
            return dict(self._plugins[kind])

    def plugin_names(self) -> list[str]:
        """Names of all registered plugins (every kind)."""
        return [name for name, _ in self.plugin_names_and_groups()]

    def plugin_names_and_groups(self) -> list[tuple[str, str]]:
        """``(name, kind)`` for every registered plugin."""
        self._ensure_discovered()
        with self._lock:
            return [(name, kind) for kind in KINDS for name in self._plugins[kind]]

    def default_for(self, platform: str, connection_type: str | None = None) -> str | None:
        """The default connection plugin name for (platform, connection_type), or for platform."""
        self._ensure_discovered("connection")
        if connection_type is not None:
            return self._type_defaults.get((platform, connection_type))
        return self._platform_defaults.get(platform)

    def transform(self, name: str) -> Callable[..., Any]:
        return self.get("transform", name)  # type: ignore[no-any-return]

    def copy(self) -> "PluginManager":
        """An independent manager with the same plugins and defaults."""
        self._ensure_discovered()
        new = PluginManager(discover=False)
        with self._lock:
            new._discovered = set(self._discovered)
            new._plugins = {k: dict(v) for k, v in self._plugins.items()}
            new._platform_defaults = dict(self._platform_defaults)
            new._type_defaults = dict(self._type_defaults)
            new.discovery_errors = dict(self.discovery_errors)
        return new


_default: PluginManager | None = None
_default_lock = threading.Lock()


def default_plugin_manager() -> PluginManager:
    """The process-wide manager used when a runtime is built without ``plugin_manager=``."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginManager()
        return _default

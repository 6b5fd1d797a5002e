"""``Genja``: the runtime a user builds from settings or an inventory, filters, and runs tasks on.

Example::

    import genja_prefect as genja_lib

    genja = genja_lib.Genja.from_settings_file("settings.yaml")
    core = genja.filter(platform="ios", groups__contains="core")
    results = core.run_task(CollectFacts, max_depth=1)
    print(results.host_summary())
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from genja_prefect.engine.bridge import ensure_no_running_loop
from genja_prefect.definition import TaskDefinition, Tasks
from genja_prefect.errors import InventoryError, PluginError
from genja_prefect.inventory import Inventory
from genja_prefect.plugins import PluginManager, default_plugin_manager
from genja_prefect.results import RunResults, TaskResults
from genja_prefect.selection import check_filter_keys, compile_filter, describe, key_filter, key_value_filter
from genja_prefect.settings import Settings
from genja_prefect.task import Host


class Genja:
    """An inventory, settings and plugins, with a current host selection.

    Selection methods (``filter``...) and ``with_runner`` return new runtimes; the original
    is unchanged.
    """

    def __init__(
        self,
        inventory: Inventory,
        settings: Settings | None = None,
        plugin_manager: PluginManager | None = None,
        *,
        selected: tuple[str, ...] | None = None,
    ) -> None:
        self.inventory = inventory
        self.settings = settings or Settings.from_dict({})
        self.plugin_manager = plugin_manager or default_plugin_manager()
        self._selected = selected
        self._views: dict[str, Host] | None = None
        self.run_parameters: dict[str, Any] = {}
        #: How the current selection was made, e.g. ``("platform=ios",)``: named in run names.
        self.selection: tuple[str, ...] = ()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_settings_file(
        cls, path: str | os.PathLike[str], plugin_manager: PluginManager | None = None
    ) -> "Genja":
        """Load ``settings.yaml`` and the inventory it names."""
        return cls.from_settings(Settings.from_file(path), plugin_manager)

    @classmethod
    def from_settings(cls, settings: Settings, plugin_manager: PluginManager | None = None) -> "Genja":
        """Build a runtime from settings, loading the inventory through its inventory plugin."""
        manager = plugin_manager or default_plugin_manager()
        config = settings.inventory
        try:
            plugin = manager.get("inventory", config.plugin)
        except PluginError as exc:
            raise InventoryError(str(exc), source=settings.source, key="inventory.plugin") from None
        inventory = plugin.load(config.options, settings.base_dir)
        if config.transform_function:
            inventory.transform(_transform(manager, config.transform_function, settings), config.transform_function_options)
        return cls(inventory, settings, manager)

    @classmethod
    def from_hosts(
        cls,
        hosts: Mapping[str, Any],
        groups: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        *,
        settings: Settings | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> "Genja":
        """Build a runtime from a ``{host_id: attributes}`` mapping (plus optional groups/defaults)."""
        return cls(
            Inventory.from_dict(hosts, groups, defaults),
            _settings(settings),
            plugin_manager,
        )

    @classmethod
    def from_inventory(
        cls,
        inventory: Inventory | Mapping[str, Any],
        *,
        settings: Settings | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> "Genja":
        """Build a runtime from an :class:`Inventory` or ``{"hosts", "groups", "defaults"}``."""
        if not isinstance(inventory, Inventory):
            unknown = set(inventory) - {"hosts", "groups", "defaults"}
            if unknown:
                raise InventoryError(
                    f"unknown inventory section(s) {sorted(unknown)}; expected hosts, groups, defaults",
                    source="<inventory>",
                )
            inventory = Inventory.from_dict(
                inventory.get("hosts") or {}, inventory.get("groups"), inventory.get("defaults")
            )
        return cls(inventory, _settings(settings), plugin_manager)

    def _derive(self, *, selected: tuple[str, ...] | None = None, settings: Settings | None = None) -> "Genja":
        new = Genja(
            self.inventory,
            settings or self.settings,
            self.plugin_manager,
            selected=selected if selected is not None else self._selected,
        )
        new._views = self._views  # host views depend only on the inventory
        new.run_parameters = dict(self.run_parameters)
        new.selection = self.selection
        return new

    def _select(self, ids: tuple[str, ...], description: str) -> "Genja":
        new = self._derive(selected=ids)
        new.selection = (*self.selection, description)
        return new

    def with_run_parameters(self, **parameters: Any) -> "Genja":
        """A runtime that records these parameters on its Prefect flow runs.

        For what was run (a job name, a settings path, filters), shown in the UI and read by
        ``genja-prefect rerun``. Never pass secrets: Prefect stores parameters in its database.
        """
        new = self._derive()
        new.run_parameters.update(parameters)
        return new

    def with_runner(self, name: str) -> "Genja":
        """A runtime using runner plugin ``name``, keeping every other runner setting."""
        self.plugin_manager.get("runner", name)
        settings = self.settings.model_copy(
            update={"runner": self.settings.runner.model_copy(update={"plugin": name})}
        )
        settings.base_dir, settings.source = self.settings.base_dir, self.settings.source
        return self._derive(settings=settings)

    def with_settings(self, **sections: Any) -> "Genja":
        """A runtime with some settings changed, e.g. ``with_settings(runner={"worker_count": 50})``."""
        data = self.settings.model_dump(mode="python")
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        settings = Settings.from_dict(data, source=self.settings.source, base_dir=self.settings.base_dir, env={})
        return self._derive(settings=settings)

    @staticmethod
    def builder(
        hosts: Mapping[str, Any],
        settings: Settings | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> "GenjaBuilder":
        """genja-py's builder: ``Genja.builder(hosts).with_plugin(p).with_runner("serial").build()``."""
        return GenjaBuilder(hosts, settings, plugin_manager)

    # -- the inventory, as plain data ---------------------------------------------------
    def iter_inventory_hosts(self) -> list[tuple[str, dict[str, Any]]]:
        """``(host id, resolved host)`` for every inventory host, in inventory order.

        The whole inventory, like ``inventory()``; :meth:`iter_selected_hosts` gives the selection.
        """
        inventory = self.inventory
        return [(h, inventory.resolved_host(h)) for h in inventory.host_ids()]

    def iter_selected_hosts(self) -> list[tuple[str, dict[str, Any]]]:
        """``(host id, resolved host)`` for the selected hosts, in inventory order."""
        return [(h, self.inventory.resolved_host(h)) for h in self.host_ids()]

    def hosts_raw(self) -> dict[str, dict[str, Any]]:
        """Every host as written, before group and default inheritance (secrets masked)."""
        return {h: self.inventory.raw_host(h) for h in self.inventory.host_ids()}

    # -- selection ----------------------------------------------------------------------
    def host_views(self) -> dict[str, Host]:
        """Every inventory host's view (id -> :class:`Host`), selected or not; built once."""
        if self._views is None:
            self._views = {h: self.inventory.host_view(h) for h in self.inventory.host_ids()}
        return self._views

    def hosts(self) -> dict[str, Host]:
        """The selected hosts (id -> :class:`Host`), in inventory order."""
        views = self.host_views()
        return {h: views[h] for h in self.host_ids()}

    def host_ids(self) -> list[str]:
        """Ids of the selected hosts, in inventory order."""
        if self._selected is None:
            return list(self.inventory.host_ids())
        return list(self._selected)

    def host_count(self) -> int:
        return len(self._selected) if self._selected is not None else len(self.inventory)

    def filter_hosts(self, predicate: Callable[[Host], bool]) -> "Genja":
        """Keep the selected hosts for which ``predicate(host)`` is true."""
        views = self.host_views()
        name = getattr(predicate, "__name__", "")
        description = f"where {name}" if name and name != "<lambda>" else "filtered"
        return self._select(tuple(h for h in self.host_ids() if predicate(views[h])), description)

    def filter(self, predicate: Callable[[Host], bool] | None = None, **criteria: Any) -> "Genja":
        """Keyword filter (``platform="ios"``, ``groups__contains="core"``, ``data__site="x"``)."""
        # A misspelled key is an error, not an empty selection (same rule as the CLI and jobs).
        check_filter_keys(self.host_views().values(), criteria)
        if predicate is not None:
            selected = self.filter_hosts(predicate)
            return selected.filter(**criteria) if criteria else selected
        predicate = compile_filter(**criteria)
        views = self.host_views()
        description = describe(criteria)
        return self._select(tuple(h for h in self.host_ids() if predicate(views[h])), description)

    def filter_by_key(self, key: str) -> "Genja":
        """Keep hosts where ``key`` exists, as genja-py does.

        ``key`` is a plain key, found at any depth of the host's fixed fields and ``data``
        (``"role"`` finds ``data.site.role``), or a dot path matched from the root or from any
        nested mapping (``"data.site.name"``, ``"site.name"``); ``__`` separators work too.
        """
        return self._select_where(key_filter(key), f"{key} exists")

    def filter_by_key_value(self, key: str, value_pattern: Any) -> "Genja":
        """Keep hosts where ``key`` (as in :meth:`filter_by_key`) has a value matching the
        regular expression ``value_pattern``, searched anywhere in the value (``"core"``
        matches ``core-2``, ``"^core$"`` only ``core``), as genja-py does.

        Raises :class:`~genja_prefect.selection.FilterError` (a ``ValueError``) for an
        invalid regular expression.
        """
        return self._select_where(key_value_filter(key, value_pattern), f"{key}~{value_pattern}")

    def _select_where(self, predicate: Callable[[Host], bool], description: str) -> "Genja":
        views = self.host_views()
        return self._select(tuple(h for h in self.host_ids() if predicate(views[h])), description)

    # -- running ------------------------------------------------------------------------
    def run_task(self, task: Any, max_depth: int | None = None) -> TaskResults:
        """Run one root task on the selected hosts; returns its result tree."""
        ensure_no_running_loop("run_task", "run_task_async")
        return self._run([TaskDefinition.coerce(task)], max_depth)[0]

    def run_tasks(self, tasks: Tasks | Iterable[Any], max_depth: int | None = None) -> RunResults:
        """Run root tasks in list order; returns one result tree per root task."""
        ensure_no_running_loop("run_tasks", "run_tasks_async")
        return self._run(_definitions(tasks), max_depth)

    async def run_task_async(self, task: Any, max_depth: int | None = None) -> TaskResults:
        """Async form of :meth:`run_task` for callers inside an event loop."""
        results = await self._run_async([TaskDefinition.coerce(task)], max_depth)
        return results[0]

    async def run_tasks_async(self, tasks: Tasks | Iterable[Any], max_depth: int | None = None) -> RunResults:
        """Async form of :meth:`run_tasks`."""
        return await self._run_async(_definitions(tasks), max_depth)

    async def _run_async(self, tasks: list[TaskDefinition], max_depth: int | None) -> RunResults:
        ctx = contextvars.copy_context()
        return await asyncio.to_thread(ctx.run, self._run, tasks, max_depth)

    def _run(self, tasks: list[TaskDefinition], max_depth: int | None) -> RunResults:
        from genja_prefect.engine.loop import configure_logging

        depth = self.settings.runner.max_task_depth if max_depth is None else max_depth
        if depth < 0:
            raise ValueError("max_depth must be 0 or more")
        configure_logging(self.settings.logging, self.settings.base_dir)
        if not self.settings.prefect.enabled:
            from genja_prefect.engine.loop import run_plain

            return run_plain(self, tasks, depth)
        # The runtime chooses the orchestrator; the engine never imports it.
        from genja_prefect.prefect.flows import run_with_prefect

        return run_with_prefect(self, tasks, depth)

    def __repr__(self) -> str:
        return f"Genja(hosts={self.host_count()}, runner={self.settings.runner.plugin!r})"


class GenjaBuilder:
    """Builds a :class:`Genja` step by step (genja-py's ``GenjaBuilder``).

    Example::

        genja = (
            Genja.builder({"r1": {"hostname": "10.0.0.1", "platform": "ios"}})
            .with_plugin(SshPlugin())
            .with_runner("serial")
            .build()
        )

    ``with_plugin`` registers on a copy of the plugin manager given to ``builder`` (or a new
    default one), so building never changes a manager the caller shares elsewhere.
    """

    def __init__(
        self,
        hosts: Mapping[str, Any],
        settings: Settings | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> None:
        self._hosts = hosts
        self._settings = settings
        self._manager = plugin_manager
        self._plugins: list[Any] = []
        self._runner: str | None = None

    def with_plugin(self, plugin: Any) -> "GenjaBuilder":
        """Register ``plugin`` (any kind) on the runtime's plugin manager."""
        self._plugins.append(plugin)
        return self

    def with_plugin_manager(self, plugin_manager: PluginManager) -> "GenjaBuilder":
        """Use ``plugin_manager`` (plugins added with :meth:`with_plugin` are added to a copy)."""
        self._manager = plugin_manager
        return self

    def with_runner(self, runner: str) -> "GenjaBuilder":
        """Use runner plugin ``runner`` (checked when :meth:`build` runs)."""
        self._runner = runner
        return self

    def build(self) -> Genja:
        """The runtime: hosts, settings, plugins and runner as given."""
        manager = self._manager
        if self._plugins:
            manager = (manager or default_plugin_manager()).copy()
            for plugin in self._plugins:
                manager.register_plugin(plugin)
        genja = Genja.from_hosts(self._hosts, settings=self._settings, plugin_manager=manager)
        return genja.with_runner(self._runner) if self._runner is not None else genja


def _settings(settings: Settings | Mapping[str, Any] | None) -> Settings:
    if settings is None or isinstance(settings, Settings):
        return settings or Settings.from_dict({})
    return Settings.from_dict(settings)


def _definitions(tasks: Tasks | Iterable[Any]) -> list[TaskDefinition]:
    return list(tasks) if isinstance(tasks, Tasks) else [TaskDefinition.coerce(t) for t in tasks]


def _transform(manager: PluginManager, name: str, settings: Settings) -> Callable[..., Any]:
    if ":" in name:
        import importlib

        module_name, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as exc:
            raise InventoryError(
                f"cannot import transform function '{name}': {exc}",
                source=settings.source,
                key="inventory.transform_function",
            ) from None
    try:
        return manager.transform(name)
    except PluginError as exc:
        raise InventoryError(str(exc), source=settings.source, key="inventory.transform_function") from None

"""genja-py's protocol-shaped plugins, adapted to this project's plugin base classes.

genja-py lets a plugin be any object with ``name()`` and ``group()`` methods (its
``*Protocol`` classes); here plugins subclass a base class and set ``name``. So that such a
plugin works unchanged, :meth:`PluginManager.register_plugin` wraps it with :func:`adapt`:
its ``group()`` picks the kind, its ``name()`` the name, and a small adapter calls its
methods where the engine calls the base class's.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

from genja_prefect.connection import ConnectionKey, ConnectionPluginBase
from genja_prefect.errors import PluginError
from genja_prefect.inventory import HostConfig, Inventory, InventoryPluginBase
from genja_prefect.processor import ProcessorPluginBase, TaskProcessorContext
from genja_prefect.results import HostTaskResult, TaskResults
from genja_prefect.runner import BatchRunnerPluginBase, RunnerPluginBase

#: genja-py's ``group()`` values and the plugin kinds they mean here.
GROUPS = {
    "ConnectionPlugin": "connection",
    "RunnerPlugin": "runner",
    "ProcessorPlugin": "processor",
    "InventoryPlugin": "inventory",
    "TransformFunctionPlugin": "transform",
}


def is_protocol_plugin(plugin: object) -> bool:
    """True for an object shaped like genja-py's plugins: callable ``name()`` and ``group()``."""
    return not isinstance(plugin, type) and callable(getattr(plugin, "name", None)) and callable(
        getattr(plugin, "group", None)
    )


def _resolve(value: Any) -> Any:
    # genja-py lets every plugin method be async; these adapters run outside the run's loop.
    return asyncio.run(value) if inspect.iscoroutine(value) else value


def adapt(plugin: Any, manager: Any) -> tuple[str, str, Any]:
    """``(kind, name, adapter)`` for a genja-py protocol plugin; a clear error for a bad one."""
    group, name = plugin.group(), plugin.name()
    kind = GROUPS.get(group)
    if kind is None:
        raise PluginError(
            f"plugin {name!r} has group() {group!r}; genja-py's groups are {', '.join(GROUPS)}"
        )
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin!r}: name() must return a non-empty string")
    adapters: dict[str, Any] = {
        "connection": _Connection,
        "runner": _BatchRunner if callable(getattr(plugin, "run_tasks", None)) else _Runner,
        "processor": _Processor,
        "inventory": _Inventory,
        "transform": _Transform,
    }
    klass = type(f"{type(plugin).__name__}Adapter", (adapters[kind],), {"name": name})
    return kind, name, klass(plugin, manager)


class _Adapter:
    name: ClassVar[str] = ""

    def __init__(self, plugin: Any, manager: Any) -> None:
        self.plugin = plugin
        self.manager = manager

    def __repr__(self) -> str:
        return f"<genja-py plugin {self.plugin!r}>"


class _Connection(_Adapter, ConnectionPluginBase):
    def create(self, key: ConnectionKey) -> Any:
        return self.plugin.create(key)  # may be a coroutine: the engine's bridge awaits it


class _Runner(_Adapter, RunnerPluginBase):
    def run_task(self, task: Any, hosts: dict[str, Any], connection_resolver: Any, runner_config: Any, max_depth: int) -> Any:
        run = getattr(self.plugin, "run_task", None) or self.plugin.run
        return run(task, hosts, connection_resolver, runner_config, max_depth)


class _BatchRunner(_Runner, BatchRunnerPluginBase):
    def run_tasks(self, tasks: list[Any], hosts: dict[str, Any], connection_resolver: Any, runner_config: Any, max_depth: int) -> Any:
        return self.plugin.run_tasks(tasks, hosts, connection_resolver, runner_config, max_depth)


class _Processor(_Adapter, ProcessorPluginBase):
    """Maps the engine's hooks onto genja-py's ``on_*`` hooks with a TaskProcessorContext."""

    def __init__(self, plugin: Any, manager: Any) -> None:
        super().__init__(plugin, manager)
        self._roots: dict[str, Any] = {}  # host id -> root TaskInfo running there
        self._lock = threading.Lock()

    def _hook(self, hook: str, *args: Any) -> Any:
        fn = getattr(self.plugin, hook, None)
        return None if fn is None else fn(*args)  # the engine's bridge awaits a coroutine

    def task_started(self, task: Any, host_ids: list[str]) -> Any:
        return self._hook("on_task_start", TaskProcessorContext(task_name=task.name), TaskResults(task.name))

    def task_completed(self, task: Any, results: Any) -> Any:
        return self._hook("on_task_finish", TaskProcessorContext(task_name=task.name), results)

    def host_started(self, task: Any, host: Any) -> Any:
        with self._lock:
            self._roots[host.id] = task
        return self._hook("on_instance_start", TaskProcessorContext(task_name=task.name, hostname=host.id))

    def host_completed(self, task: Any, host: Any, result: Any) -> Any:
        context = TaskProcessorContext(task_name=task.name, hostname=host.id)
        return self._finish(context, result)

    def subtask_started(self, task: Any, host: Any) -> Any:
        return self._hook("on_instance_start", self._sub_context(task, host))

    def subtask_completed(self, task: Any, host: Any, result: Any) -> Any:
        return self._finish(self._sub_context(task, host), result)

    def _sub_context(self, task: Any, host: Any) -> TaskProcessorContext:
        with self._lock:
            root = self._roots.get(host.id)
        parent, depth = _find_parent(root, task) if root is not None else (None, 1)
        return TaskProcessorContext(
            task_name=task.name, parent_task_name=parent or "?", depth=depth, hostname=host.id
        )

    def _finish(self, context: TaskProcessorContext, result: Any) -> None:
        fn = getattr(self.plugin, "on_instance_finish", None)
        if fn is None:
            return
        changed = _resolve(fn(context, result))
        if changed is None or changed is result:
            return
        new = HostTaskResult.from_python_result(changed)
        if type(new) is not type(result):
            raise PluginError(
                f"on_instance_finish of processor {self.name!r} returned a {new.status} result "
                f"for a {result.status} one; a processor may change a result's fields, not its status"
            )
        for f in fields(new):
            if f.name not in ("started_at_ns", "duration_ns"):
                setattr(result, f.name, getattr(new, f.name))


def _find_parent(node: Any, target: Any, depth: int = 0) -> tuple[str | None, int]:
    """The parent task's name and the depth of ``target`` in the TaskInfo tree under ``node``."""
    for child in node.sub_tasks:
        if child is target:
            return node.name, depth + 1
        parent, found = _find_parent(child, target, depth + 1)
        if parent is not None:
            return parent, found
    return None, depth + 1


class _Inventory(_Adapter, InventoryPluginBase):
    def load(self, options: Mapping[str, Any], base_dir: Path) -> Inventory:
        from genja_prefect.settings import Settings

        settings = Settings.from_dict({"inventory": {"plugin": self.name, "options": dict(options)}}, base_dir=base_dir, env={})
        data = _resolve(self.plugin.load(settings, self.manager))
        if hasattr(data, "to_dict"):
            data = data.to_dict()
        if not isinstance(data, Mapping):
            raise PluginError(f"inventory plugin {self.name!r}: load() returned {type(data).__name__}, not a mapping")
        if "hosts" in data and set(data) <= {"hosts", "groups", "defaults"}:
            return Inventory.from_dict(data["hosts"] or {}, data.get("groups"), data.get("defaults"))
        return Inventory.from_dict(data)


class _Transform(_Adapter):
    """A transform function (``fn(host_config, **options)``) calling ``transform_host``."""

    _kept = {"password", "connection_options"}

    def __call__(self, host: HostConfig, **options: Any) -> None:
        before = host.model_dump(exclude_unset=True, exclude=self._kept)
        after = _resolve(self.plugin.transform_host(dict(before), options or None))
        if not isinstance(after, Mapping):
            raise PluginError(f"transform plugin {self.name!r}: transform_host() returned {type(after).__name__}, not a dict")
        changes = {k: v for k, v in after.items() if k not in self._kept}
        checked = HostConfig.model_validate({**before, **changes})
        for key in changes:
            setattr(host, key, getattr(checked, key))

"""genja-prefect: the Genja network-automation API, run as Prefect 3 flows.

Example::

    import genja_prefect as genja_lib
    from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

    @task(name="collect_facts")
    class CollectFacts:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(summary=f"collected facts from {host.hostname}")

    genja = genja_lib.Genja.from_settings_file("settings.yaml")
    results = genja.run_task(CollectFacts, max_depth=1)
    print(results.to_json(pretty=True))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition, Tasks
    from genja_prefect.engine.resolver import TaskConnectionResolver
    from genja_prefect.errors import (
        ConfigError,
        EventLoopError,
        FilterError,
        GenjaError,
        InventoryError,
        PluginError,
        PluginKindError,
        PluginNotRegisteredError,
        SettingsError,
        TaskDefinitionError,
    )
    from genja_prefect.inventory import Inventory
    from genja_prefect.plugins import PluginManager, default_plugin_manager
    from genja_prefect.resolution import resolve_connection_plugin
    from genja_prefect.results import RunResults, TaskResults
    from genja_prefect.runtime import Genja
    from genja_prefect.settings import Settings

__version__ = "0.1.0"

#: Public name -> the module that defines it. Imported on first use (PEP 562), so that
#: ``import genja_prefect`` and the command line's ``--help`` stay fast: the runtime pulls in
#: pydantic models, YAML and asyncio, which only a run or an inventory command needs.
_EXPORTS = {
    "ConfigError": "genja_prefect.errors",
    "EventLoopError": "genja_prefect.errors",
    "FilterError": "genja_prefect.errors",
    "Genja": "genja_prefect.runtime",
    "GenjaError": "genja_prefect.errors",
    "Inventory": "genja_prefect.inventory",
    "InventoryError": "genja_prefect.errors",
    "PluginError": "genja_prefect.errors",
    "PluginKindError": "genja_prefect.errors",
    "PluginManager": "genja_prefect.plugins",
    "PluginNotRegisteredError": "genja_prefect.errors",
    "RunResults": "genja_prefect.results",
    "Settings": "genja_prefect.settings",
    "SettingsError": "genja_prefect.errors",
    "TaskConnectionResolver": "genja_prefect.engine.resolver",
    "TaskDefinition": "genja_prefect.definition",
    "TaskDefinitionError": "genja_prefect.errors",
    "TaskResults": "genja_prefect.results",
    "Tasks": "genja_prefect.definition",
    "default_plugin_manager": "genja_prefect.plugins",
    "resolve_connection_plugin": "genja_prefect.resolution",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genja_prefect' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

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

from genja_prefect.definition import TaskDefinition, Tasks
from genja_prefect.errors import (
    ConfigError,
    EventLoopError,
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
from genja_prefect.engine.resolver import TaskConnectionResolver
from genja_prefect.results import RunResults, TaskResults
from genja_prefect.runtime import Genja
from genja_prefect.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "EventLoopError",
    "Genja",
    "GenjaError",
    "Inventory",
    "InventoryError",
    "PluginError",
    "PluginKindError",
    "PluginManager",
    "PluginNotRegisteredError",
    "RunResults",
    "Settings",
    "SettingsError",
    "TaskConnectionResolver",
    "TaskDefinition",
    "TaskDefinitionError",
    "TaskResults",
    "Tasks",
    "default_plugin_manager",
    "resolve_connection_plugin",
]

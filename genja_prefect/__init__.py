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

from genja_prefect.connection import (
    ConnectionBase,
    ConnectionKey,
    ConnectionPluginBase,
    ConnectionPluginProtocol,
    ConnectionProtocol,
    ResolvedConnectionParams,
    register_connection_plugin,
)
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
from genja_prefect.inventory import Inventory, InventoryPluginBase, InventoryPluginProtocol
from genja_prefect.plugins import PluginManager, default_plugin_manager
from genja_prefect.processor import ProcessorPluginBase, TaskProcessorContext, TaskProcessorProtocol
from genja_prefect.resolution import resolve_connection_plugin
from genja_prefect.engine.resolver import TaskConnectionResolver
from genja_prefect.results import HostTaskResult, RunResults, TaskResults
from genja_prefect.runner import BatchRunnerPluginBase, RunnerPluginBase, RunnerPluginProtocol
from genja_prefect.runtime import Genja, GenjaBuilder
from genja_prefect.selection import FilterError
from genja_prefect.settings import (
    CoreConfig,
    InventoryConfig,
    LoggingConfig,
    OptionsConfig,
    PrefectConfig,
    RetryConfig,
    RunnerConfig,
    Settings,
    SSHConfig,
)
from genja_prefect.task import (
    GenjaTaskProtocol,
    Host,
    TaskFailureKind,
    TaskFailureResult,
    TaskInfo,
    TaskMessage,
    TaskMessageLevel,
    TaskRuntimeContext,
    TaskSkipResult,
    TaskSuccessResult,
    task,
)
from genja_prefect.transform import TransformFunctionPluginProtocol

__version__ = "0.1.0"

# The task, connection, plugin, settings and processor names are re-exported here as
# genja-py does (``genja.Host``, ``genja.task``, ``genja.Settings``...); their modules stay
# the primary place for them.
__all__ = [
    "BatchRunnerPluginBase",
    "ConfigError",
    "ConnectionBase",
    "ConnectionKey",
    "ConnectionPluginBase",
    "ConnectionPluginProtocol",
    "ConnectionProtocol",
    "CoreConfig",
    "EventLoopError",
    "FilterError",
    "Genja",
    "GenjaBuilder",
    "GenjaError",
    "GenjaTaskProtocol",
    "Host",
    "HostTaskResult",
    "Inventory",
    "InventoryConfig",
    "InventoryError",
    "InventoryPluginBase",
    "InventoryPluginProtocol",
    "LoggingConfig",
    "OptionsConfig",
    "PluginError",
    "PluginKindError",
    "PluginManager",
    "PluginNotRegisteredError",
    "PrefectConfig",
    "ProcessorPluginBase",
    "ResolvedConnectionParams",
    "RetryConfig",
    "RunResults",
    "RunnerConfig",
    "RunnerPluginBase",
    "RunnerPluginProtocol",
    "SSHConfig",
    "Settings",
    "SettingsError",
    "TaskConnectionResolver",
    "TaskDefinition",
    "TaskDefinitionError",
    "TaskFailureKind",
    "TaskFailureResult",
    "TaskInfo",
    "TaskMessage",
    "TaskMessageLevel",
    "TaskProcessorContext",
    "TaskProcessorProtocol",
    "TaskResults",
    "TaskRuntimeContext",
    "TaskSkipResult",
    "TaskSuccessResult",
    "Tasks",
    "TransformFunctionPluginProtocol",
    "default_plugin_manager",
    "register_connection_plugin",
    "resolve_connection_plugin",
    "task",
]

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

# ``task`` (the decorator) is bound now, not on first use: importing the submodule
# ``genja_prefect.task`` sets the package attribute ``task`` to that module, which would hide
# a lazily imported name. The module is small (no pydantic, YAML or asyncio).
from genja_prefect.task import task

if TYPE_CHECKING:
    from genja_prefect.connection import (
        ConnectionBase,
        ConnectionKey,
        ConnectionPluginBase,
        ConnectionPluginProtocol,
        ConnectionProtocol,
        ResolvedConnectionParams,
        register_connection_plugin,
    )
    from genja_prefect.definition import (
        TaskDefinition,
        Tasks,
    )
    from genja_prefect.engine.resolver import (
        TaskConnectionResolver,
    )
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
    from genja_prefect.inventory import (
        Inventory,
        InventoryPluginBase,
        InventoryPluginProtocol,
    )
    from genja_prefect.plugins import (
        PluginManager,
        default_plugin_manager,
    )
    from genja_prefect.processor import (
        ProcessorPluginBase,
        TaskProcessorContext,
        TaskProcessorProtocol,
    )
    from genja_prefect.resolution import (
        resolve_connection_plugin,
    )
    from genja_prefect.results import (
        HostTaskResult,
        RunResults,
        TaskResults,
    )
    from genja_prefect.runner import (
        BatchRunnerPluginBase,
        RunnerPluginBase,
        RunnerPluginProtocol,
    )
    from genja_prefect.runtime import (
        Genja,
        GenjaBuilder,
    )
    from genja_prefect.settings import (
        CoreConfig,
        InventoryConfig,
        LoggingConfig,
        OptionsConfig,
        PrefectConfig,
        RetryConfig,
        RunnerConfig,
        SSHConfig,
        Settings,
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
    )
    from genja_prefect.transform import (
        TransformFunctionPluginProtocol,
    )

__version__ = "0.1.0"

# The task, connection, plugin, settings and processor names are re-exported here as
# genja-py does (``genja.Host``, ``genja.task``, ``genja.Settings``...); their modules stay
# the primary place for them.
#: Public name -> the module that defines it. Imported on first use (PEP 562), so that
#: ``import genja_prefect`` and the command line's ``--help`` stay fast: the runtime pulls in
#: pydantic models, YAML and asyncio, which only a run or an inventory command needs.
_EXPORTS = {
    "BatchRunnerPluginBase": "genja_prefect.runner",
    "ConfigError": "genja_prefect.errors",
    "ConnectionBase": "genja_prefect.connection",
    "ConnectionKey": "genja_prefect.connection",
    "ConnectionPluginBase": "genja_prefect.connection",
    "ConnectionPluginProtocol": "genja_prefect.connection",
    "ConnectionProtocol": "genja_prefect.connection",
    "CoreConfig": "genja_prefect.settings",
    "EventLoopError": "genja_prefect.errors",
    "FilterError": "genja_prefect.errors",
    "Genja": "genja_prefect.runtime",
    "GenjaBuilder": "genja_prefect.runtime",
    "GenjaError": "genja_prefect.errors",
    "GenjaTaskProtocol": "genja_prefect.task",
    "Host": "genja_prefect.task",
    "HostTaskResult": "genja_prefect.results",
    "Inventory": "genja_prefect.inventory",
    "InventoryConfig": "genja_prefect.settings",
    "InventoryError": "genja_prefect.errors",
    "InventoryPluginBase": "genja_prefect.inventory",
    "InventoryPluginProtocol": "genja_prefect.inventory",
    "LoggingConfig": "genja_prefect.settings",
    "OptionsConfig": "genja_prefect.settings",
    "PluginError": "genja_prefect.errors",
    "PluginKindError": "genja_prefect.errors",
    "PluginManager": "genja_prefect.plugins",
    "PluginNotRegisteredError": "genja_prefect.errors",
    "PrefectConfig": "genja_prefect.settings",
    "ProcessorPluginBase": "genja_prefect.processor",
    "ResolvedConnectionParams": "genja_prefect.connection",
    "RetryConfig": "genja_prefect.settings",
    "RunResults": "genja_prefect.results",
    "RunnerConfig": "genja_prefect.settings",
    "RunnerPluginBase": "genja_prefect.runner",
    "RunnerPluginProtocol": "genja_prefect.runner",
    "SSHConfig": "genja_prefect.settings",
    "Settings": "genja_prefect.settings",
    "SettingsError": "genja_prefect.errors",
    "TaskConnectionResolver": "genja_prefect.engine.resolver",
    "TaskDefinition": "genja_prefect.definition",
    "TaskDefinitionError": "genja_prefect.errors",
    "TaskFailureKind": "genja_prefect.task",
    "TaskFailureResult": "genja_prefect.task",
    "TaskInfo": "genja_prefect.task",
    "TaskMessage": "genja_prefect.task",
    "TaskMessageLevel": "genja_prefect.task",
    "TaskProcessorContext": "genja_prefect.processor",
    "TaskProcessorProtocol": "genja_prefect.processor",
    "TaskResults": "genja_prefect.results",
    "TaskRuntimeContext": "genja_prefect.task",
    "TaskSkipResult": "genja_prefect.task",
    "TaskSuccessResult": "genja_prefect.task",
    "Tasks": "genja_prefect.definition",
    "TransformFunctionPluginProtocol": "genja_prefect.transform",
    "default_plugin_manager": "genja_prefect.plugins",
    "register_connection_plugin": "genja_prefect.connection",
    "resolve_connection_plugin": "genja_prefect.resolution",
}

__all__ = sorted([*_EXPORTS, "task"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genja_prefect' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

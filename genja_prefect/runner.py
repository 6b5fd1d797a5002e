"""Runner plugins: how a root task's host executions are scheduled.

The engine hands every root task to the configured runner's ``run_task`` -- the built-in
``threaded`` (default) and ``serial`` runners (:mod:`genja_prefect.runners`) included, which are
registered through the ``genja_prefect.runner`` entry points like anyone's. A runner runs a
host with ``task.run_on_host(host, connection_resolver=..., max_depth=...)``, which applies
connections, processors, retries and error handling and, inside a Prefect run, records the
host's task run. A runner that schedules the whole ordered task list itself implements
``run_tasks`` (inherit :class:`BatchRunnerPluginBase`); each root task still gets its subflow.
Both may be ``async def``.

Example::

    class FirstHostOnlyRunner(RunnerPluginBase):
        name = "first_host_only"

        def run_task(self, task, hosts, connection_resolver, runner_config, max_depth):
            _, first_host = next(iter(hosts.items()))
            return task.run_on_host(first_host, connection_resolver=connection_resolver, max_depth=max_depth)

Register it with ``PluginManager.register_plugin(FirstHostOnlyRunner())`` or an entry point in
the group ``genja_prefect.runner``, and select it with ``runner: {plugin: first_host_only}``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition
    from genja_prefect.engine.resolver import TaskConnectionResolver
    from genja_prefect.results import TaskResults
    from genja_prefect.settings import RunnerConfig
    from genja_prefect.task import Host


@runtime_checkable
class RunnerPluginProtocol(Protocol):
    """What the engine calls on a runner plugin.

    genja-py's ``RunnerPluginProtocol`` has the same ``run_task`` (its earlier releases call it
    ``run``) with ``name()`` and ``group()`` methods; ``PluginManager.register_plugin`` accepts
    such an object too (:mod:`genja_prefect.protocol_plugins`).
    """

    name: ClassVar[str]

    def run_task(
        self,
        task: "TaskDefinition",
        hosts: dict[str, "Host"],
        connection_resolver: "TaskConnectionResolver",
        runner_config: "RunnerConfig",
        max_depth: int,
    ) -> "TaskResults | Awaitable[TaskResults]":
        """Run ``task`` on ``hosts`` (host id -> Host); return (or await to) its TaskResults."""
        ...


class RunnerPluginBase:
    """Base class of runner plugins (see :class:`RunnerPluginProtocol`)."""

    name: ClassVar[str] = ""

    def run_task(
        self,
        task: "TaskDefinition",
        hosts: dict[str, "Host"],
        connection_resolver: "TaskConnectionResolver",
        runner_config: "RunnerConfig",
        max_depth: int,
    ) -> "TaskResults | Awaitable[TaskResults]":
        """Run ``task`` (a TaskDefinition) on ``hosts`` (host id -> Host); return TaskResults."""
        raise NotImplementedError(f"runner '{self.name}' does not implement run_task")


class BatchRunnerPluginBase(RunnerPluginBase):
    """A runner that also schedules a whole ordered task list itself."""

    def run_tasks(
        self,
        tasks: "list[TaskDefinition]",
        hosts: dict[str, "Host"],
        connection_resolver: "TaskConnectionResolver",
        runner_config: "RunnerConfig",
        max_depth: int,
    ) -> "list[TaskResults] | Awaitable[list[TaskResults]]":
        """Run root tasks (TaskDefinitions, in order) on ``hosts``; return a list of TaskResults."""
        raise NotImplementedError(f"runner '{self.name}' does not implement run_tasks")

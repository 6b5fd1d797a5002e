"""Runner plugins: how a root task's host executions are scheduled.

Built in: ``threaded`` (the default: up to ``worker_count`` hosts in flight) and ``serial``
(one host at a time, in inventory order). A custom runner implements ``run_task`` (and may
implement ``run_tasks`` by inheriting :class:`BatchRunnerPluginBase`); both may be ``async``.

Example::

    class FirstHostOnlyRunner(RunnerPluginBase):
        name = "first_host_only"

        def run_task(self, task, hosts, connection_resolver, runner_config, max_depth):
            _, first_host = next(iter(hosts.items()))
            return task.run_on_host(first_host, connection_resolver=connection_resolver, max_depth=max_depth)
"""

from __future__ import annotations

from typing import Any, ClassVar


class RunnerPluginBase:
    """Base class of runner plugins."""

    name: ClassVar[str] = ""

    def run_task(
        self,
        task: Any,
        hosts: dict[str, Any],
        connection_resolver: Any,
        runner_config: Any,
        max_depth: int,
    ) -> Any:
        """Run ``task`` (a TaskDefinition) on ``hosts`` (host id -> Host); return TaskResults."""
        raise NotImplementedError


class BatchRunnerPluginBase(RunnerPluginBase):
    """A runner that also schedules a whole ordered task list itself."""

    def run_tasks(
        self,
        tasks: list[Any],
        hosts: dict[str, Any],
        connection_resolver: Any,
        runner_config: Any,
        max_depth: int,
    ) -> Any:
        """Run root tasks (TaskDefinitions, in order) on ``hosts``; return a list of TaskResults."""
        raise NotImplementedError


class _BuiltinRunner(RunnerPluginBase):
    """The built-in runners are scheduled by the engine itself (see dispatch.py)."""

    serial: ClassVar[bool] = False

    def run_task(
        self,
        task: Any,
        hosts: dict[str, Any],
        connection_resolver: Any,
        runner_config: Any,
        max_depth: int,
    ) -> Any:
        from genja_prefect.results import TaskResults

        results = TaskResults(task.name)
        for host in hosts.values():
            results.merge(task.run_on_host(host, connection_resolver=connection_resolver, max_depth=max_depth))
        return results


class ThreadedRunner(_BuiltinRunner):
    """Runs hosts concurrently, at most ``runner.worker_count`` at a time."""

    name = "threaded"


class SerialRunner(_BuiltinRunner):
    """Runs hosts one at a time in inventory order."""

    name = "serial"
    serial = True

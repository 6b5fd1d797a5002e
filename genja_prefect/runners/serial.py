"""The ``serial`` runner: one host at a time, in inventory order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genja_prefect.engine.dispatch import run_serial
from genja_prefect.runner import RunnerPluginBase

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition
    from genja_prefect.engine.resolver import TaskConnectionResolver
    from genja_prefect.results import TaskResults
    from genja_prefect.settings import RunnerConfig
    from genja_prefect.task import Host


class SerialRunner(RunnerPluginBase):
    """Runs hosts one at a time in inventory order."""

    name = "serial"

    def run_task(
        self,
        task: "TaskDefinition",
        hosts: dict[str, "Host"],
        connection_resolver: "TaskConnectionResolver",
        runner_config: "RunnerConfig",
        max_depth: int,
    ) -> "TaskResults":
        def one(host: "Host") -> "TaskResults":
            return task.run_on_host(host, connection_resolver=connection_resolver, max_depth=max_depth)

        return run_serial(task.name, list(hosts.values()), one)

"""The ``threaded`` runner (the default): up to ``runner.worker_count`` hosts in flight.

Example (what ``runner: {plugin: threaded, worker_count: 20}`` in settings.yaml selects)::

    genja = genja.with_runner("threaded")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genja_prefect.engine.dispatch import run_threaded
from genja_prefect.engine.execution import cancellation
from genja_prefect.runner import RunnerPluginBase

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition
    from genja_prefect.engine.resolver import TaskConnectionResolver
    from genja_prefect.results import TaskResults
    from genja_prefect.settings import RunnerConfig
    from genja_prefect.task import Host


class ThreadedRunner(RunnerPluginBase):
    """Runs hosts concurrently, at most ``runner.worker_count`` at a time; the next host starts
    the moment one ends."""

    name = "threaded"

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

        workers = runner_config.effective_worker_count(len(hosts))
        return run_threaded(task.name, list(hosts.values()), one, workers, cancellation())

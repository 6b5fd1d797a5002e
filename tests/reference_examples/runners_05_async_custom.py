import genja as genja_lib
from genja.runner import RunnerPluginBase
from genja.settings import RunnerConfig


class AsyncFirstHostOnlyRunner(RunnerPluginBase):
    name = "async_first_host_only"

    async def run_task(
        self,
        task: genja_lib.TaskDefinition,
        hosts: dict[str, object],
        connection_resolver: genja_lib.TaskConnectionResolver | None,
        runner_config: RunnerConfig,
        max_depth: int,
    ) -> genja_lib.TaskResults:
        _, first_host = next(iter(hosts.items()))
        return task.run_on_host(
            first_host,
            connection_resolver=connection_resolver,
            max_depth=max_depth,
        )

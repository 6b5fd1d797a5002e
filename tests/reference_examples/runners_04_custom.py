import genja as genja_lib
from genja.runner import RunnerPluginBase
from genja.settings import RunnerConfig


class FirstHostOnlyRunner(RunnerPluginBase):
    name = "first_host_only"

    def run_task(
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


plugins = genja_lib.PluginManager()
plugins.register_plugin(FirstHostOnlyRunner())

"""Task classes the CLI tests run as `tests.cli.tasks:ShowVersion`."""

from genja_prefect.task import TaskSuccessResult, task


@task(name="show_version", connection_plugin_name="scrapli")
class ShowVersion:
    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        return TaskSuccessResult(summary=f"{len(context.connection().execute_command('show version'))} bytes")

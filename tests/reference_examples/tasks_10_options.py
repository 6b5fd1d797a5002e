from genja.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task


@task(
    name="backup_config",
    options={"backup_path": "/tmp/configs", "compress": True},
)
class BackupConfig:
    def start(
        self,
        task: TaskInfo,
        host: Host,
        context: TaskRuntimeContext,
    ) -> TaskSuccessResult:
        return TaskSuccessResult(
            summary=f"backup path is {task.options['backup_path']}",
        )

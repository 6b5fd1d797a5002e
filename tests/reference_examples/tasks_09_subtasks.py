from genja.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task


@task(name="validate_config")
class ValidateConfig:
    def start(
        self,
        task: TaskInfo,
        host: Host,
        context: TaskRuntimeContext,
    ) -> TaskSuccessResult:
        return TaskSuccessResult(summary=f"validated {host.hostname}")


@task(name="deploy_config", sub_tasks=[ValidateConfig])
class DeployConfig:
    def start(
        self,
        task: TaskInfo,
        host: Host,
        context: TaskRuntimeContext,
    ) -> TaskSuccessResult:
        return TaskSuccessResult(summary=f"deployed {host.hostname}")

from genja.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult


def start(
    self,
    task: TaskInfo,
    host: Host,
    context: TaskRuntimeContext,
) -> TaskSuccessResult:
    connection = context.connection()
    output = None
    if connection is not None:
        output = connection.execute_command("show version")
    return TaskSuccessResult(
        summary=f"connected to {host.hostname}",
        metadata={"show_version": output},
    )

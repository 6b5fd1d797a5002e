from genja.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult


def start(
    self,
    task: TaskInfo,
    host: Host,
    _context: TaskRuntimeContext,
) -> TaskSuccessResult:
    print(f"task={task.name} host={host.hostname}")
    return TaskSuccessResult()

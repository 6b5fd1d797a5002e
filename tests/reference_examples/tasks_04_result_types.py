from genja.task import (
    Host,
    TaskInfo,
    TaskFailureKind,
    TaskFailureResult,
    TaskRuntimeContext,
    TaskSkipResult,
    TaskSuccessResult,
)

passed = TaskSuccessResult(summary="ok")
failed = TaskFailureResult(
    message="connection failed",
    kind=TaskFailureKind.CONNECTION,
    retryable=True,
)
skipped = TaskSkipResult(
    reason="unsupported_platform",
    message="host platform is not supported",
)

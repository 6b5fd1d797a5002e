"""The @task decorator: exactly one entry point, clear errors at decoration time."""

from __future__ import annotations

import pytest

from genja_prefect import TaskDefinition, TaskDefinitionError
from genja_prefect.task import TaskSuccessResult, task


def test_sync_and_async_tasks_and_metadata() -> None:
    @task(name="validate_config")
    class Validate:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    @task(name="deploy", connection_plugin_name="ssh", processors=["audit"], options={"a": 1}, sub_tasks=[Validate])
    class Deploy:
        async def start_async(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult()

    d = TaskDefinition(Deploy)
    assert d.is_async and not TaskDefinition(Validate).is_async
    assert d.info.name == "deploy" and d.info.connection_plugin_name == "ssh"
    assert d.info.processors == ("audit",) and d.info.options == {"a": 1}
    assert [s.name for s in d.info.sub_tasks] == ["validate_config"]
    assert TaskDefinition(Deploy()).name == "deploy"  # instances work too


def test_elided_task_decorates_but_cannot_run() -> None:
    # The reference pages write `@task(...) class BackupConfig: ...`; that must decorate.
    @task(name="backup_config", processors=["audit"])
    class BackupConfig: ...

    with pytest.raises(TaskDefinitionError, match="'backup_config'.*define exactly one of start"):
        TaskDefinition(BackupConfig)


def test_both_entry_points_rejected() -> None:
    with pytest.raises(TaskDefinitionError, match="both start and start_async"):
        @task(name="t")
        class T:
            def start(self, task, host, context): ...  # type: ignore[no-untyped-def]
            async def start_async(self, task, host, context): ...  # type: ignore[no-untyped-def]


def test_async_start_or_sync_start_async_rejected() -> None:
    with pytest.raises(TaskDefinitionError, match="start must be a plain function"):
        @task(name="t")
        class A:
            async def start(self, task, host, context): ...  # type: ignore[no-untyped-def]
    with pytest.raises(TaskDefinitionError, match="async def"):
        @task(name="t")
        class B:
            def start_async(self, task, host, context): ...  # type: ignore[no-untyped-def]


def test_wrong_signature_options_and_subtasks_rejected() -> None:
    with pytest.raises(TaskDefinitionError, match=r"must accept \(self, task, host, context\)"):
        @task(name="t")
        class A:
            def start(self, host): ...  # type: ignore[no-untyped-def]
    with pytest.raises(TaskDefinitionError, match="JSON-serializable"):
        @task(name="t", options={"x": object()})
        class B:
            def start(self, task, host, context): ...  # type: ignore[no-untyped-def]
    with pytest.raises(TaskDefinitionError, match="sub-task"):
        @task(name="t", sub_tasks=[object])
        class C:
            def start(self, task, host, context): ...  # type: ignore[no-untyped-def]
    with pytest.raises(TaskDefinitionError, match="not a task"):
        TaskDefinition(object())

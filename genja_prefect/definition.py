"""Task definitions: a ``@task`` class bound to an instance, its metadata and its sub-task tree.

Runners receive :class:`TaskDefinition` objects and run them on hosts with
:meth:`TaskDefinition.run_on_host`, which applies connections, processors, depth limits and
error handling exactly like the built-in runners (and, inside a run, records the host's
Prefect task run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from genja_prefect.errors import TaskDefinitionError
from genja_prefect.results import TaskResults
from genja_prefect.task import Host, TaskInfo, TaskSpec


class TaskDefinition:
    """A task ready to run: the task object, its :class:`TaskInfo` and sub-task definitions."""

    __slots__ = ("instance", "spec", "info", "sub_tasks", "_body")

    instance: Any
    spec: TaskSpec
    info: TaskInfo
    sub_tasks: tuple[TaskDefinition, ...]
    _body: Callable[..., Any]

    def __init__(self, task: Any) -> None:
        if isinstance(task, TaskDefinition):
            task = task.instance
        klass = task if isinstance(task, type) else type(task)
        spec: TaskSpec | None = getattr(klass, "__genja_task__", None)
        if spec is None:
            raise TaskDefinitionError(
                f"{task!r} is not a task: decorate its class with @task(name=...) and define "
                f"start(self, task, host, context) or async start_async(...)"
            )
        if not spec.has_entry_point:
            raise TaskDefinitionError(
                f"task '{spec.name}' ({klass.__qualname__}) cannot run: define exactly one of "
                f"start(self, task, host, context) or async start_async(self, task, host, context)"
            )
        self.instance = task() if isinstance(task, type) else task
        self.spec = spec
        self.sub_tasks = tuple(TaskDefinition(s) for s in spec.sub_tasks)
        self.info = TaskInfo(
            name=spec.name,
            options=spec.options,
            processors=spec.processors,
            connection_plugin_name=spec.connection_plugin_name,
            sub_tasks=tuple(s.info for s in self.sub_tasks),
            connection_type=spec.connection_type,
            connection_library=spec.connection_library,
            capabilities=spec.capabilities,
            fallback_to_default=spec.fallback_to_default,
        )
        self._body = getattr(self.instance, "start_async" if spec.is_async else "start")

    @classmethod
    def from_python_class(cls, py_task_class: type) -> "TaskDefinition":
        """genja-py's constructor: the definition of a ``@task``-decorated class."""
        if not isinstance(py_task_class, type):
            raise TaskDefinitionError(
                f"from_python_class() takes a @task-decorated class, not {py_task_class!r}"
            )
        return cls(py_task_class)

    @classmethod
    def coerce(cls, task: Any) -> "TaskDefinition":
        """Accept a TaskDefinition, a ``@task`` class or an instance of one."""
        return task if isinstance(task, TaskDefinition) else cls(task)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def connection_plugin_name(self) -> str | None:
        """The connection plugin the task names, if any."""
        return self.info.connection_plugin_name

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data: name, connection, processors, options, sub-tasks."""
        i = self.info
        return {
            "name": i.name,
            "connection_plugin_name": i.connection_plugin_name,
            "connection_type": i.connection_type,
            "connection_library": i.connection_library,
            "capabilities": [c.__qualname__ for c in i.capabilities],
            "fallback_to_default": i.fallback_to_default,
            "processors": list(i.processors),
            "options": dict(i.options),
            "is_async": self.is_async,
            "sub_tasks": [s.to_dict() for s in self.sub_tasks],
        }

    @property
    def is_async(self) -> bool:
        return self.spec.is_async

    @property
    def body(self) -> Any:
        """The bound ``start``/``start_async`` method."""
        return self._body

    @property
    def declares_connection(self) -> bool:
        i = self.info
        return bool(i.connection_plugin_name or i.connection_type or i.connection_library or i.capabilities)

    def walk(self) -> Iterator["TaskDefinition"]:
        """This definition and every sub-task definition, depth first."""
        yield self
        for sub in self.sub_tasks:
            yield from sub.walk()

    def as_task(self) -> Any:
        """The task object itself (Genja's ``task.as_task()``)."""
        return self.instance

    def run_on_host(
        self,
        host: Host | str,
        *,
        connection_resolver: Any = None,
        max_depth: int | None = None,
    ) -> TaskResults:
        """Run this task (and its sub-tasks, up to ``max_depth``) on one host; return its tree."""
        from genja_prefect.engine.execution import run_definition_on_host

        return run_definition_on_host(self, host, connection_resolver, max_depth)

    def run_on_hosts(
        self,
        hosts: Mapping[str, Host] | Iterable[Host | str],
        connection_resolver: Any = None,
        max_depth: int | None = 0,
    ) -> TaskResults:
        """Run this task on each host in order, in this thread; return the merged tree.

        ``hosts`` maps host ids to hosts (what a runner receives) or lists hosts or host ids.
        ``max_depth`` defaults to 0 as in genja-py (sub-tasks are skipped); pass the runner's
        ``max_depth`` to run them, or ``None`` for the run's own limit.
        """
        items = hosts.values() if isinstance(hosts, Mapping) else hosts
        results = TaskResults(self.name)
        for host in items:
            results.merge(self.run_on_host(host, connection_resolver=connection_resolver, max_depth=max_depth))
        return results

    async def run_on_host_async(
        self,
        host: Host | str,
        *,
        connection_resolver: Any = None,
        max_depth: int | None = None,
    ) -> TaskResults:
        """Async form of :meth:`run_on_host` (runs it in a worker thread)."""
        import asyncio
        import contextvars

        ctx = contextvars.copy_context()
        return await asyncio.to_thread(
            ctx.run, self.run_on_host, host, connection_resolver=connection_resolver, max_depth=max_depth
        )

    def __repr__(self) -> str:
        return f"TaskDefinition({self.name!r}, sub_tasks={[s.name for s in self.sub_tasks]})"


class Tasks:
    """An ordered list of root tasks for ``run_tasks``; root tasks run in list order."""

    def __init__(self, tasks: Iterable[Any] = ()) -> None:
        self._tasks: list[TaskDefinition] = [TaskDefinition.coerce(t) for t in tasks]

    def add_task(self, task: Any) -> "Tasks":
        """Append a root task; returns self so calls can be chained."""
        self._tasks.append(TaskDefinition.coerce(task))
        return self

    add = add_task

    def __iter__(self) -> Iterator[TaskDefinition]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __getitem__(self, index: int) -> TaskDefinition:
        return self._tasks[index]

    def task_definitions(self) -> list[TaskDefinition]:
        """The root task definitions, in run order (genja-py's name)."""
        return list(self._tasks)

    to_list = task_definitions

    def names(self) -> list[str]:
        return [t.name for t in self._tasks]

    def __repr__(self) -> str:
        return f"Tasks({self.names()})"

"""Processor plugins: lifecycle hooks around tasks, hosts and sub-tasks.

A task opts into processors by name (``@task(processors=["audit"])``). Every hook is optional
and may be ``async def``. The engine calls them in this order for each root task::

    task_started(task, host_ids)
      for each host (concurrently under the threaded runner):
        host_started(task, host)
          [the root task body]
          for each sub-task, depth first, after its parent:
            subtask_started(sub_task, host) -> [body] -> subtask_completed(sub_task, host, result)
        host_completed(task, host, result)        # result of the root task for that host
    task_completed(task, results)                 # the whole TaskResults tree

In a Prefect run each hook sits at the state transition it mirrors: ``task_started`` after
the root task's subflow goes Running, ``host_started`` after the host's task run goes
Running, ``host_completed`` before that task run's final state is recorded (its message is
the result as the processors left it) and ``task_completed`` before the artifacts and the
subflow's final state (docs/prefect.md, "Processors and Prefect states").

The root task's processors see the hooks of its whole tree; a sub-task's own processors see
its ``subtask_*`` hooks. A hook may change the result it is given (e.g. add metadata). A hook
that raises is logged and recorded as a warning on the host result; it never loses a result.

Example::

    class Audit(ProcessorPluginBase):
        name = "audit"

        def host_completed(self, task, host, result):
            if hasattr(result, "metadata"):
                result.metadata["audited_by"] = "audit"
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from genja_prefect.results import AnyHostResult, TaskResults
    from genja_prefect.task import Host, TaskInfo


class ProcessorPluginBase:
    """Base class of processor plugins; override the hooks you need (sync or ``async def``)."""

    name: ClassVar[str] = ""

    def task_started(self, task: "TaskInfo", host_ids: list[str]) -> None | Awaitable[None]:
        """A root task is about to run on ``host_ids`` (possibly none)."""
        return None

    def task_completed(self, task: "TaskInfo", results: "TaskResults") -> None | Awaitable[None]:
        """A root task finished on every host; ``results`` is its TaskResults tree."""
        return None

    def host_started(self, task: "TaskInfo", host: "Host") -> None | Awaitable[None]:
        """One host's execution of a root task (with its sub-tasks) starts."""
        return None

    def host_completed(self, task: "TaskInfo", host: "Host", result: "AnyHostResult") -> None | Awaitable[None]:
        """One host's execution of a root task ended with ``result``."""
        return None

    def subtask_started(self, task: "TaskInfo", host: "Host") -> None | Awaitable[None]:
        """A sub-task starts on a host, after its parent."""
        return None

    def subtask_completed(self, task: "TaskInfo", host: "Host", result: "AnyHostResult") -> None | Awaitable[None]:
        """A sub-task ended on a host with ``result``."""
        return None


class TaskProcessorContext(BaseModel):
    """Where a genja-py processor hook is called (genja-py's ``TaskProcessorContext``).

    ``task_name`` is the task the hook is about, ``parent_task_name`` its parent for a
    sub-task, ``depth`` 0 for a root task, ``hostname`` the host id (``None`` for the task
    hooks, which are about every host).
    """

    model_config = ConfigDict(frozen=True)

    task_name: str
    parent_task_name: str | None = None
    depth: int = 0
    hostname: str | None = None

    @property
    def is_sub_task(self) -> bool:
        return self.parent_task_name is not None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@runtime_checkable
class TaskProcessorProtocol(Protocol):
    """genja-py's structural contract of a processor plugin: ``name()`` and ``group()``
    (``"ProcessorPlugin"``), plus any of these optional hooks, each taking a
    :class:`TaskProcessorContext`:

    - ``on_task_start(context, results)`` / ``on_task_finish(context, results)``: around a
      root task on all its hosts (``results`` is the TaskResults tree, empty at the start);
    - ``on_instance_start(context)`` / ``on_instance_finish(context, result)``: around one
      task (root or sub-task) on one host. ``on_instance_finish`` may return a changed
      result (a result object, or its dict form) that replaces the host's result.

    ``PluginManager.register_plugin`` accepts such an object as a processor named ``name()``
    and maps the hooks onto :class:`ProcessorPluginBase`'s (``task_started``,
    ``host_started``, ``subtask_started``, ...), which processors written here implement.
    """

    def name(self) -> str: ...

    def group(self) -> str: ...

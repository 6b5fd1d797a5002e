"""Defining tasks: the ``@task`` decorator and what a task receives.

A task is a class decorated with ``@task(...)`` that defines exactly one of
``start(self, task, host, context)`` or ``async start_async(self, task, host, context)`` and
returns a :class:`TaskSuccessResult`, :class:`TaskFailureResult` or :class:`TaskSkipResult`.

Example::

    from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

    @task(name="collect_facts")
    class CollectFacts:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            return TaskSuccessResult(
                summary=f"collected facts from {host.hostname}",
                metadata={"hostname": host.hostname, "platform": host.platform},
            )
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from genja_prefect.errors import TaskDefinitionError
from genja_prefect.results import (
    TaskFailureKind,
    TaskFailureResult,
    TaskSkipResult,
    TaskSuccessResult,
)

__all__ = [
    "GenjaTaskProtocol",
    "Host",
    "TaskFailureKind",
    "TaskFailureResult",
    "TaskInfo",
    "TaskMessage",
    "TaskMessageLevel",
    "TaskRuntimeContext",
    "TaskSkipResult",
    "TaskSpec",
    "TaskSuccessResult",
    "task",
]


@dataclass(frozen=True, slots=True)
class Host:
    """The host a task runs against, with inheritance already applied. No password.

    ``data`` is merged from defaults, groups and host; ``host["key"]`` and ``host.get(key)``
    read it.
    """

    id: str
    hostname: str
    port: int | None = None
    username: str | None = None
    platform: str | None = None
    groups: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The host id (Nornir calls it ``name``)."""
        return self.id

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task's definition-time metadata, passed as the ``task`` argument."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    processors: tuple[str, ...] = ()
    connection_plugin_name: str | None = None
    sub_tasks: tuple["TaskInfo", ...] = ()
    connection_type: str | None = None
    connection_library: str | None = None
    capabilities: tuple[type, ...] = ()
    fallback_to_default: bool = False


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What ``@task`` records on the class (``cls.__genja_task__``)."""

    name: str
    options: Mapping[str, Any]
    processors: tuple[str, ...]
    connection_plugin_name: str | None
    sub_tasks: tuple[Any, ...]
    connection_type: str | None
    connection_library: str | None
    capabilities: tuple[type, ...]
    fallback_to_default: bool
    is_async: bool
    has_entry_point: bool = True


class _Connector(Protocol):
    def primary(self) -> Any: ...

    def get(
        self,
        plugin_name: str | None,
        connection_type: str | None,
        connection_library: str | None,
        capabilities: Sequence[type],
        fallback_to_default: bool,
    ) -> Any: ...


class TaskRuntimeContext:
    """Runtime state for one task execution on one host.

    ``connection()`` returns the connection the task declared (opened and cached by the
    engine), or ``None`` when the task declared none. ``get_connection(...)`` opens (and
    caches for the run) another connection inside the task.
    """

    __slots__ = ("_connector", "_depth")

    def __init__(self, connector: _Connector | None = None, depth: int = 0) -> None:
        self._connector = connector
        self._depth = depth

    def connection(self) -> Any:
        """The task's resolved connection, or ``None``."""
        return self._connector.primary() if self._connector is not None else None

    def has_connection(self) -> bool:
        """True when a connection was resolved for this task."""
        return self.connection() is not None

    def get_connection(
        self,
        plugin_name: str | None = None,
        *,
        connection_type: str | None = None,
        connection_library: str | None = None,
        capabilities: Sequence[type] = (),
        fallback_to_default: bool = False,
    ) -> Any:
        """Resolve, open and cache another connection for this host.

        Give a plugin name, or criteria resolved against the host's platform as described in
        the plugin-resolution rules. Raises the resolution errors, or
        :class:`~genja_prefect.connection.ConnectionOpenError` when opening fails.
        """
        if self._connector is None:
            raise RuntimeError("get_connection() is only available while the engine runs a task")
        return self._connector.get(
            plugin_name, connection_type, connection_library, capabilities, fallback_to_default
        )


class TaskMessageLevel(str, Enum):
    """Severity of a :class:`TaskMessage`."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    DEBUG = "debug"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """A structured message on a host result (``messages=[TaskMessage(...)]``).

    ``level`` is a :class:`TaskMessageLevel` (or its value), ``text`` the human-readable
    message, ``code`` an optional machine-readable code, ``timestamp`` when it happened.
    In the result JSON it is ``{"level": ..., "text": ..., "code": ..., "timestamp": ...}``.
    """

    level: TaskMessageLevel
    text: str
    code: str | None = None
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.level, TaskMessageLevel):
            object.__setattr__(self, "level", TaskMessageLevel(self.level))

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "text": self.text,
            "code": self.code,
            "timestamp": self.timestamp.isoformat() if self.timestamp is not None else None,
        }


@runtime_checkable
class GenjaTaskProtocol(Protocol):
    """What a task class looks like once ``@task`` decorated it (for annotations).

    ``__genja_task__`` is the :class:`TaskSpec` the decorator records (genja-py calls it
    ``__genja_task_info__``); ``start`` is the body. An async task defines ``start_async``
    instead, which a Protocol cannot express as an alternative: annotate those with ``type``.
    """

    __genja_task__: ClassVar[TaskSpec]

    def start(
        self, task: TaskInfo, host: Host, context: TaskRuntimeContext
    ) -> TaskSuccessResult | TaskFailureResult | TaskSkipResult: ...


_T = TypeVar("_T", bound=type)


def task(
    name: str | None = None,
    *,
    connection_plugin_name: str | None = None,
    processors: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    sub_tasks: Sequence[Any] | None = None,
    connection_type: str | None = None,
    connection_library: str | None = None,
    capabilities: Sequence[type] = (),
    fallback_to_default: bool = False,
) -> Callable[[_T], _T]:
    """Declare a class as a Genja task.

    ``connection_plugin_name`` names the connection plugin opened before the task runs; or
    give ``connection_type``/``connection_library``/``capabilities``/``fallback_to_default``
    to resolve a plugin per host from its platform. ``processors`` names processor plugins,
    ``options`` is JSON-serializable metadata (``task.options``), ``sub_tasks`` lists task
    classes (or instances) that run after this task on the same host.
    """

    def decorate(cls: _T) -> _T:
        if not isinstance(cls, type):
            raise TaskDefinitionError(f"@task decorates a class, not {cls!r}")
        task_name = name or cls.__name__
        where = f"task class {cls.__qualname__} ('{task_name}')"
        if not isinstance(task_name, str) or not task_name:
            raise TaskDefinitionError(f"{where}: name must be a non-empty string")
        start = getattr(cls, "start", None)
        start_async = getattr(cls, "start_async", None)
        # A class with neither entry point is accepted here because the reference pages
        # decorate elided classes (`class BackupConfig: ...`); it fails clearly when run.
        if start is not None and start_async is not None:
            raise TaskDefinitionError(f"{where}: defines both start and start_async; keep exactly one")
        if start is not None and inspect.iscoroutinefunction(start):
            raise TaskDefinitionError(f"{where}: start must be a plain function; name an async body start_async")
        if start_async is not None and not inspect.iscoroutinefunction(start_async):
            raise TaskDefinitionError(f"{where}: start_async must be defined with 'async def'")
        body = start if start is not None else start_async
        if body is not None:
            _check_signature(where, body)
        if connection_plugin_name is not None and (connection_type or connection_library):
            raise TaskDefinitionError(
                f"{where}: give connection_plugin_name or connection_type/connection_library, not both"
            )
        if isinstance(processors, str):
            raise TaskDefinitionError(f"{where}: processors must be a list of plugin names")
        opts = dict(options or {})
        try:
            json.dumps(opts)
        except (TypeError, ValueError) as exc:
            raise TaskDefinitionError(f"{where}: options must be JSON-serializable ({exc})") from None
        children = tuple(sub_tasks or ())
        for child in children:
            child_cls = child if isinstance(child, type) else type(child)
            if not hasattr(child_cls, "__genja_task__"):
                raise TaskDefinitionError(
                    f"{where}: sub-task {child!r} is not a @task-decorated class or instance"
                )
        cls.__genja_task__ = TaskSpec(  # type: ignore[attr-defined]
            name=task_name,
            options=opts,
            processors=tuple(processors or ()),
            connection_plugin_name=connection_plugin_name,
            sub_tasks=children,
            connection_type=connection_type,
            connection_library=connection_library,
            capabilities=tuple(capabilities),
            fallback_to_default=fallback_to_default,
            is_async=start is None,
            has_entry_point=body is not None,
        )
        return cls

    return decorate


def _check_signature(where: str, body: Any) -> None:
    try:
        params = list(inspect.signature(body).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(positional) < 4 and not has_varargs:
        raise TaskDefinitionError(
            f"{where}: {body.__name__} must accept (self, task, host, context), "
            f"got ({', '.join(p.name for p in params)})"
        )

"""Task results: one result per host, arranged in a tree that mirrors the task tree.

Plain Python, picklable and JSON-serializable (exceptions are stored as type, message and
traceback text, never as live objects), so results travel through Prefect and Dask unchanged.

Example::

    results = genja.run_task(CollectFacts, max_depth=1)
    print(results.host_summary())          # passed=2 failed=0 skipped=0
    for host_id in results.failed_hosts:
        print(f"failed host: {host_id}")
    print(results.to_json(pretty=True))    # normalized shape
    raw = results.to_dict(raw=True)        # raw, variant-shaped
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, SupportsIndex, Union, overload


class TaskFailureKind(str, Enum):
    """Classification of a failed host result."""

    CONNECTION = "connection"
    AUTHENTICATION = "authentication"
    VALIDATION = "validation"
    TIMEOUT = "timeout"
    COMMAND = "command"
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal"
    EXTERNAL = "external"

    def __str__(self) -> str:
        return self.value


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop empty/default values so the normalized output stays readable."""
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != {} and v is not False}


@dataclass(kw_only=True, slots=True)
class TaskSuccessResult:
    """The task completed for this host.

    ``result`` is the payload, ``changed``/``diff`` describe a change made on the device.
    """

    status: ClassVar[str] = "passed"
    variant: ClassVar[str] = "Passed"

    result: Any = None
    changed: bool = False
    diff: str | None = None
    summary: str | None = None
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1

    def _fields(self) -> dict[str, Any]:
        return _clean(
            {
                "summary": self.summary,
                "result": self.result,
                "changed": self.changed,
                "diff": self.diff,
                "metadata": self.metadata,
                "warnings": self.warnings,
                "messages": self.messages,
                "attempts": self.attempts if self.attempts != 1 else None,
            }
        )


@dataclass(kw_only=True, slots=True)
class TaskFailureResult:
    """The task ran and the host failed; ``kind`` classifies why."""

    status: ClassVar[str] = "failed"
    variant: ClassVar[str] = "Failed"

    message: str = ""
    kind: TaskFailureKind = TaskFailureKind.INTERNAL
    retryable: bool = False
    details: Any = None
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    attempts: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.kind, TaskFailureKind):
            self.kind = TaskFailureKind(self.kind)

    def _fields(self) -> dict[str, Any]:
        fields = {"message": self.message, "kind": self.kind.value, "retryable": self.retryable}
        fields.update(
            _clean(
                {
                    "details": self.details,
                    "warnings": self.warnings,
                    "messages": self.messages,
                    "attempts": self.attempts if self.attempts != 1 else None,
                }
            )
        )
        return fields


@dataclass(kw_only=True, slots=True)
class TaskSkipResult:
    """The task intentionally did not apply to this host."""

    status: ClassVar[str] = "skipped"
    variant: ClassVar[str] = "Skipped"

    reason: str = ""
    message: str | None = None
    warnings: list[str] = field(default_factory=list)

    def _fields(self) -> dict[str, Any]:
        return {"reason": self.reason, **_clean({"message": self.message, "warnings": self.warnings})}


HostTaskResult = Union[TaskSuccessResult, TaskFailureResult, TaskSkipResult]
RESULT_TYPES = (TaskSuccessResult, TaskFailureResult, TaskSkipResult)


def host_result_to_dict(result: HostTaskResult, raw: bool = False) -> dict[str, Any]:
    """One host result in the normalized (``{"status": ...}``) or raw (``{"Passed": ...}``) shape."""
    if raw:
        return {result.variant: result._fields()}
    return {"status": result.status, **result._fields()}


@dataclass(frozen=True, slots=True)
class HostSummary:
    """Counts of host results by status."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def __add__(self, other: "HostSummary") -> "HostSummary":
        return HostSummary(
            self.passed + other.passed, self.failed + other.failed, self.skipped + other.skipped
        )

    def __str__(self) -> str:
        return f"passed={self.passed} failed={self.failed} skipped={self.skipped}"


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """Recursive counts over a task tree: ``hosts`` sums every host result of every node."""

    task_name: str
    tasks: int
    hosts: HostSummary

    def __str__(self) -> str:
        return f"{self.task_name}: tasks={self.tasks} {self.hosts}"


class TaskResults:
    """The result tree of one task: ``hosts`` maps host id to its result, ``sub_tasks`` maps
    each sub-task name to that sub-task's own :class:`TaskResults`."""

    __slots__ = ("task_name", "hosts", "sub_tasks")

    def __init__(
        self,
        task_name: str,
        hosts: dict[str, HostTaskResult] | None = None,
        sub_tasks: dict[str, "TaskResults"] | None = None,
    ) -> None:
        self.task_name = task_name
        self.hosts: dict[str, HostTaskResult] = hosts if hosts is not None else {}
        self.sub_tasks: dict[str, TaskResults] = sub_tasks if sub_tasks is not None else {}

    # -- building -----------------------------------------------------------------------
    def sub_task(self, name: str) -> "TaskResults":
        """The child node for sub-task ``name`` (created on first use)."""
        node = self.sub_tasks.get(name)
        if node is None:
            node = self.sub_tasks.setdefault(name, TaskResults(name))
        return node

    def merge(self, other: "TaskResults") -> "TaskResults":
        """Add ``other``'s host results and sub-task nodes into this tree (in place); returns self."""
        if other.task_name != self.task_name:
            raise ValueError(
                f"cannot merge results of task '{other.task_name}' into task '{self.task_name}'"
            )
        self.hosts.update(other.hosts)
        for name, child in other.sub_tasks.items():
            self.sub_task(name).merge(child)
        return self

    # -- reading ------------------------------------------------------------------------
    def __getitem__(self, host_id: str) -> HostTaskResult:
        return self.hosts[host_id]

    def __contains__(self, host_id: object) -> bool:
        return host_id in self.hosts

    def __iter__(self) -> Iterator[str]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def _ids(self, status: str) -> list[str]:
        return [h for h, r in self.hosts.items() if r.status == status]

    @property
    def passed_hosts(self) -> list[str]:
        """Host ids whose result for this task is passed."""
        return self._ids("passed")

    @property
    def failed_hosts(self) -> list[str]:
        """Host ids whose result for this task is failed."""
        return self._ids("failed")

    @property
    def skipped_hosts(self) -> list[str]:
        """Host ids whose result for this task is skipped."""
        return self._ids("skipped")

    @property
    def failed(self) -> bool:
        """True when any host failed anywhere in the tree."""
        return self.task_summary().hosts.failed > 0

    def host_summary(self) -> HostSummary:
        """Counts for this task's own host results (not sub-tasks)."""
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for result in self.hosts.values():
            counts[result.status] += 1
        return HostSummary(**counts)

    def task_summary(self) -> TaskSummary:
        """Recursive counts over this task and all its sub-tasks."""
        tasks = 1
        hosts = self.host_summary()
        for child in self.sub_tasks.values():
            summary = child.task_summary()
            tasks += summary.tasks
            hosts = hosts + summary.hosts
        return TaskSummary(self.task_name, tasks, hosts)

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """The tree as plain data: normalized (default) or raw (variant-shaped)."""
        return {
            "task_name": self.task_name,
            "hosts": {h: host_result_to_dict(r, raw) for h, r in self.hosts.items()},
            "sub_tasks": {n: c.to_dict(raw) for n, c in self.sub_tasks.items()},
        }

    def to_json(self, raw: bool = False, pretty: bool = False) -> str:
        """The tree as JSON; values that are not JSON types are written with ``str()``."""
        return json.dumps(self.to_dict(raw), indent=2 if pretty else None, default=str)

    def __repr__(self) -> str:
        return f"TaskResults({self.task_name!r}, {self.host_summary()}, sub_tasks={list(self.sub_tasks)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskResults):
            return NotImplemented
        return self.to_dict(raw=True) == other.to_dict(raw=True)

    def __getstate__(self) -> tuple[str, dict[str, HostTaskResult], dict[str, "TaskResults"]]:
        return (self.task_name, self.hosts, self.sub_tasks)

    def __setstate__(self, state: tuple[str, dict[str, HostTaskResult], dict[str, "TaskResults"]]) -> None:
        self.task_name, self.hosts, self.sub_tasks = state


class RunResults(list[TaskResults]):
    """The results of ``run_tasks``: one :class:`TaskResults` per root task, in list order."""

    @overload
    def __getitem__(self, key: SupportsIndex | str) -> TaskResults: ...
    @overload
    def __getitem__(self, key: slice) -> list[TaskResults]: ...
    def __getitem__(self, key: SupportsIndex | slice | str) -> TaskResults | list[TaskResults]:
        """A root task's results by position or by task name; a slice gives a plain list."""
        if isinstance(key, str):
            for item in self:
                if item.task_name == key:
                    return item
            raise KeyError(key)
        return super().__getitem__(key)

    @property
    def failed_hosts(self) -> list[str]:
        """Hosts that failed in any root task (or its sub-tasks), without repeats."""
        seen: dict[str, None] = {}
        for tree in self:
            stack = [tree]
            while stack:
                node = stack.pop()
                for h in node.failed_hosts:
                    seen.setdefault(h)
                stack.extend(node.sub_tasks.values())
        return list(seen)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self)

    def to_dict(self, raw: bool = False) -> list[dict[str, Any]]:
        return [r.to_dict(raw) for r in self]

    def to_json(self, raw: bool = False, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(raw), indent=2 if pretty else None, default=str)

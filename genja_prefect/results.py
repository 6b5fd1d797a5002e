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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, SupportsIndex, Union, overload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _messages(messages: list[Any]) -> list[Any]:
    # TaskMessage objects (genja_prefect.task) serialize themselves; plain strings stay strings.
    return [m.to_dict() if hasattr(m, "to_dict") else m for m in messages]


class HostTaskResult:
    """Base class of the three host results (genja-py's ``HostTaskResult``).

    Every host result carries its timing, set by the engine: ``started_at_ns`` (wall clock,
    ns since the epoch) and ``duration_ns`` (monotonic clock), read as :attr:`started_at`,
    :attr:`finished_at` and :attr:`duration_ms`. The engine reads the clocks once at the start
    and once at the end of each execution; the datetimes are only built when read.
    """

    __slots__ = ()

    status: ClassVar[str]
    variant: ClassVar[str]
    started_at_ns: int | None
    duration_ns: int | None
    warnings: list[str]

    @staticmethod
    def from_python_result(result: Any) -> "AnyHostResult":
        """A host result from a result object or its dict form (normalized or raw shape).

        ``{"status": "passed", "summary": ...}`` and ``{"Passed": {"summary": ...}}`` both
        work, as do the result objects themselves (returned as they are).
        """
        if isinstance(result, RESULT_TYPES):
            return result
        if isinstance(result, Mapping):
            if "status" in result:
                fields = dict(result)
                status = fields.pop("status")
                klass = _BY_STATUS.get(str(status))
            elif len(result) == 1:
                (variant, fields), = result.items()
                klass = _BY_VARIANT.get(str(variant))
                fields = dict(fields or {})
            else:
                klass, fields = None, {}
            if klass is not None:
                return klass._from_fields(fields)
        raise TypeError(
            f"cannot make a host result from {type(result).__name__}: give TaskSuccessResult, "
            f"TaskFailureResult, TaskSkipResult or their dict form ({{'status': 'passed', ...}} "
            f"or {{'Passed': {{...}}}})"
        )

    @property
    def started_at(self) -> datetime | None:
        """When the execution started (UTC), or ``None`` for a result the engine did not time."""
        if self.started_at_ns is None:
            return None
        return _EPOCH + timedelta(microseconds=self.started_at_ns // 1000)

    @property
    def finished_at(self) -> datetime | None:
        """When the execution ended (UTC): ``started_at`` plus the measured duration."""
        start = self.started_at
        if start is None or self.duration_ns is None:
            return None
        return start + timedelta(microseconds=self.duration_ns // 1000)

    @property
    def duration_ms(self) -> float | None:
        """How long the execution took, in milliseconds (microsecond resolution)."""
        return None if self.duration_ns is None else (self.duration_ns // 1000) / 1000

    def set_timing(self, started_at_ns: int, duration_ns: int) -> None:
        """Record the execution's start (``time.time_ns()``) and duration (``perf_counter_ns`` delta)."""
        # The fields are declared (and slotted) by each result dataclass, not by this base.
        self.started_at_ns = started_at_ns  # type: ignore[misc]
        self.duration_ns = duration_ns  # type: ignore[misc]

    def _timing(self) -> dict[str, Any]:
        if self.started_at_ns is None:
            return {}
        start, end = self.started_at, self.finished_at
        return {
            "started_at": start.isoformat() if start else None,
            "finished_at": end.isoformat() if end else None,
            "duration_ms": self.duration_ms,
        }

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> "AnyHostResult":
        started, duration = fields.pop("started_at", None), fields.pop("duration_ms", None)
        fields.pop("finished_at", None)  # started_at + duration_ms
        try:
            result: AnyHostResult = cls(**fields)  # type: ignore[assignment]
        except TypeError as exc:
            raise TypeError(f"invalid {cls.__name__} fields: {exc}") from None
        if started is not None and duration is not None:
            start = datetime.fromisoformat(started) if isinstance(started, str) else started
            result.set_timing((start - _EPOCH) // timedelta(microseconds=1) * 1000, round(duration * 1000) * 1000)
        return result

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """This result in the normalized (``{"status": ...}``) or raw (``{"Passed": ...}``) shape."""
        if raw:
            return {self.variant: self._fields()}
        return {"status": self.status, **self._fields()}


@dataclass(kw_only=True, slots=True)
class TaskSuccessResult(HostTaskResult):
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
    messages: list[Any] = field(default_factory=list)  # strings or task.TaskMessage
    metadata: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    started_at_ns: int | None = field(default=None, compare=False)
    duration_ns: int | None = field(default=None, compare=False)

    def _fields(self) -> dict[str, Any]:
        return _clean(
            {
                "summary": self.summary,
                "result": self.result,
                "changed": self.changed,
                "diff": self.diff,
                "metadata": self.metadata,
                "warnings": self.warnings,
                "messages": _messages(self.messages),
                "attempts": self.attempts if self.attempts != 1 else None,
                **self._timing(),
            }
        )


@dataclass(kw_only=True, slots=True)
class TaskFailureResult(HostTaskResult):
    """The task ran and the host failed; ``kind`` classifies why."""

    status: ClassVar[str] = "failed"
    variant: ClassVar[str] = "Failed"

    message: str = ""
    kind: TaskFailureKind = TaskFailureKind.INTERNAL
    retryable: bool = False
    details: Any = None
    warnings: list[str] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)  # strings or task.TaskMessage
    attempts: int = 1
    started_at_ns: int | None = field(default=None, compare=False)
    duration_ns: int | None = field(default=None, compare=False)

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
                    "messages": _messages(self.messages),
                    "attempts": self.attempts if self.attempts != 1 else None,
                    **self._timing(),
                }
            )
        )
        return fields


@dataclass(kw_only=True, slots=True)
class TaskSkipResult(HostTaskResult):
    """The task intentionally did not apply to this host."""

    status: ClassVar[str] = "skipped"
    variant: ClassVar[str] = "Skipped"

    reason: str = ""
    message: str | None = None
    warnings: list[str] = field(default_factory=list)
    started_at_ns: int | None = field(default=None, compare=False)
    duration_ns: int | None = field(default=None, compare=False)

    def _fields(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            **_clean({"message": self.message, "warnings": self.warnings, **self._timing()}),
        }


#: Any one host result (for annotations; ``HostTaskResult`` is their common base class).
AnyHostResult = Union[TaskSuccessResult, TaskFailureResult, TaskSkipResult]
RESULT_TYPES = (TaskSuccessResult, TaskFailureResult, TaskSkipResult)
_BY_STATUS: dict[str, type[HostTaskResult]] = {k.status: k for k in RESULT_TYPES}
_BY_VARIANT: dict[str, type[HostTaskResult]] = {k.variant: k for k in RESULT_TYPES}


def host_result_to_dict(result: AnyHostResult, raw: bool = False) -> dict[str, Any]:
    """One host result in the normalized (``{"status": ...}``) or raw (``{"Passed": ...}``) shape."""
    return result.to_dict(raw)


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
    """Recursive counts over a task tree: ``hosts`` sums every host result of every node.

    ``started_at``/``finished_at`` span the tree's timed host results (first start, last
    end) and ``duration_ms`` is that span: how long the task took across all its hosts.
    ``None`` when no result was timed (e.g. no host was selected).
    """

    task_name: str
    tasks: int
    hosts: HostSummary
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at) / timedelta(milliseconds=1)

    def __str__(self) -> str:
        text = f"{self.task_name}: tasks={self.tasks} {self.hosts}"
        duration = self.duration_ms
        return text if duration is None else f"{text} duration_ms={duration:.1f}"


class TaskResults:
    """The result tree of one task: ``hosts`` maps host id to its result, ``sub_tasks`` maps
    each sub-task name to that sub-task's own :class:`TaskResults`."""

    __slots__ = ("task_name", "hosts", "sub_tasks")

    def __init__(
        self,
        task_name: str,
        hosts: dict[str, AnyHostResult] | None = None,
        sub_tasks: dict[str, "TaskResults"] | None = None,
    ) -> None:
        self.task_name = task_name
        self.hosts: dict[str, AnyHostResult] = hosts if hosts is not None else {}
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
    def __getitem__(self, host_id: str) -> AnyHostResult:
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
        """Recursive counts over this task and all its sub-tasks, and the time they spanned."""
        tasks = 1
        hosts = self.host_summary()
        first = last = None
        for result in self.hosts.values():
            if result.started_at_ns is not None and result.duration_ns is not None:
                # microseconds, rounded exactly as each result's started_at/finished_at
                start_us = result.started_at_ns // 1000
                end_us = start_us + result.duration_ns // 1000
                first = start_us if first is None else min(first, start_us)
                last = end_us if last is None else max(last, end_us)
        started = _EPOCH + timedelta(microseconds=first) if first is not None else None
        finished = _EPOCH + timedelta(microseconds=last) if last is not None else None
        for child in self.sub_tasks.values():
            summary = child.task_summary()
            tasks += summary.tasks
            hosts = hosts + summary.hosts
            if summary.started_at is not None and (started is None or summary.started_at < started):
                started = summary.started_at
            if summary.finished_at is not None and (finished is None or summary.finished_at > finished):
                finished = summary.finished_at
        return TaskSummary(self.task_name, tasks, hosts, started, finished)

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

    def __getstate__(self) -> tuple[str, dict[str, AnyHostResult], dict[str, "TaskResults"]]:
        return (self.task_name, self.hosts, self.sub_tasks)

    def __setstate__(self, state: tuple[str, dict[str, AnyHostResult], dict[str, "TaskResults"]]) -> None:
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

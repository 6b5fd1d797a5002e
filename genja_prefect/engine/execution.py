"""Running one task tree on one host: connections, processors, depth, retries, errors.

This is the only place a task body is called. It never raises for a task's failure: every
outcome becomes exactly one host result per task node, so one host can never stop another.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from genja_prefect.engine.bridge import AsyncBridge
from genja_prefect.engine.deadline import run_with_deadline
from genja_prefect.engine.hostlog import host_notes
from genja_prefect.connection import CommandError, ConnectionOpenError
from genja_prefect.errors import GenjaError, PluginError, SecretResolutionError
from genja_prefect.inventory import Inventory
from genja_prefect.plugins import PluginManager
from genja_prefect.engine.resolver import TaskConnectionResolver, classify_exception, redact
from genja_prefect.results import (
    RESULT_TYPES,
    AnyHostResult,
    TaskFailureKind,
    TaskFailureResult,
    TaskResults,
    TaskSkipResult,
)
from genja_prefect.settings import RunnerConfig
from genja_prefect.task import Host, TaskRuntimeContext

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition

logger = logging.getLogger(__name__)


class HostRunHooks(Protocol):
    """How the engine observes host executions (e.g. to record Prefect task runs)."""

    def host_started(self, task: TaskDefinition, host: Host) -> Any: ...

    def host_context(self, token: Any) -> Any: ...

    def host_finished(self, token: Any, task: TaskDefinition, host: Host, result: AnyHostResult) -> None: ...

    def host_log(self, token: Any, level: int, message: str) -> None:
        """A note about the host's execution (e.g. a connection retry) for its record."""
        ...


@dataclass
class ExecutionEnv:
    """Everything a host execution needs for one run (one ``run_tasks`` call)."""

    inventory: Inventory
    plugin_manager: PluginManager
    runner_config: RunnerConfig
    resolver: TaskConnectionResolver
    bridge: AsyncBridge
    max_depth: int
    hooks: HostRunHooks | None = None
    close_after_host: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)
    _processors: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    _host_views: dict[str, Host] = field(default_factory=dict)

    def host(self, host_id: str) -> Host:
        view = self._host_views.get(host_id)
        if view is None:
            view = self._host_views[host_id] = self.inventory.host_view(host_id)
        return view

    def add_host_views(self, views: dict[str, Host]) -> None:
        """Reuse host views the runtime already built (one ``Host`` object per host and run)."""
        self._host_views.update(views)

    def processors(self, task: TaskDefinition) -> list[tuple[str, Any]]:
        """The processor plugins a task names, looked up once per run."""
        found = self._processors.get(task.name)
        if found is None:
            found = [(n, self.plugin_manager.get("processor", n)) for n in task.info.processors]
            self._processors[task.name] = found
        return found


_current_env: contextvars.ContextVar[ExecutionEnv | None] = contextvars.ContextVar(
    "genja_prefect_env", default=None
)


_progress: contextvars.ContextVar[Any] = contextvars.ContextVar("genja_prefect_progress", default=None)


def observe_progress(listener: Any) -> contextvars.Token[Any]:
    """Call ``listener(task_name, host_id, result)`` after each host execution of a root task
    in runs started from this context (the CLI's live progress display uses it)."""
    return _progress.set(listener)


def stop_observing_progress(token: contextvars.Token[Any]) -> None:
    """Undo :func:`observe_progress`."""
    _progress.reset(token)


def current_env() -> ExecutionEnv | None:
    """The run's environment while the engine runs (used by ``TaskDefinition.run_on_host``)."""
    return _current_env.get()


def set_current_env(env: ExecutionEnv | None) -> contextvars.Token[ExecutionEnv | None]:
    """Make ``env`` the current run's environment (until :func:`reset_current_env`)."""
    return _current_env.set(env)


def reset_current_env(token: contextvars.Token[ExecutionEnv | None]) -> None:
    _current_env.reset(token)


def cancellation() -> threading.Event:
    """The current run's cancel flag (a runner sets it on Ctrl-C or cancel; hosts not yet
    started then end skipped). Outside a run, a fresh flag."""
    env = _current_env.get()
    return env.cancelled if env is not None else threading.Event()


class _HostConnector:
    """The connection side of a TaskRuntimeContext: one host, one task."""

    __slots__ = ("_env", "_host_id", "_task", "_primary")

    def __init__(self, env: ExecutionEnv, host_id: str, task: TaskDefinition) -> None:
        self._env = env
        self._host_id = host_id
        self._task = task
        self._primary: Any = None

    def open_primary(self) -> None:
        i = self._task.info
        self._primary = self._env.resolver.get_connection(
            self._host_id,
            i.connection_plugin_name,
            connection_type=i.connection_type,
            connection_library=i.connection_library,
            capabilities=i.capabilities,
            fallback_to_default=i.fallback_to_default,
        )

    def primary(self) -> Any:
        return self._primary

    def get(
        self,
        plugin_name: str | None,
        connection_type: str | None,
        connection_library: str | None,
        capabilities: Sequence[type],
        fallback_to_default: bool,
    ) -> Any:
        return self._env.resolver.get_connection(
            self._host_id,
            plugin_name,
            connection_type=connection_type,
            connection_library=connection_library,
            capabilities=capabilities,
            fallback_to_default=fallback_to_default,
        )


def _host_secrets(env: ExecutionEnv, host_id: str) -> list[str | None]:
    """Every password that could appear in a third-party message about this host."""
    values: list[str | None] = []
    for item in env.inventory.chain(host_id):
        secrets = [item.password, *(o.password for o in item.connection_options.values())]
        for secret in secrets:
            if secret is not None:
                try:
                    values.append(secret.get_secret_value())
                except SecretResolutionError:
                    pass
    return values


def failure_from_exception(exc: BaseException, secrets: Sequence[str | None] = ()) -> TaskFailureResult:
    """A failed host result for an exception: classified kind, message and traceback text."""
    if isinstance(exc, (ConnectionOpenError, CommandError, TimeoutError, ConnectionError, EOFError)):
        # Connection trouble raised by a connection while the task used it keeps its kind;
        # anything else a task raises is an internal error.
        kind, retryable = classify_exception(exc)
    else:
        kind, retryable = TaskFailureKind.INTERNAL, False
    message = redact(f"{type(exc).__name__}: {exc}", secrets)
    details: dict[str, Any] = {
        "exception_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": redact("".join(traceback.format_exception(exc)), secrets),
    }
    if isinstance(exc, CommandError) and exc.output is not None:
        details["output"] = redact(exc.output, secrets)
    return TaskFailureResult(message=message, kind=kind, retryable=retryable, details=details)


def call_processor_hooks(
    env: ExecutionEnv,
    processors: Sequence[tuple[str, Any]],
    hook: str,
    args: tuple[Any, ...],
    warnings: list[str],
) -> None:
    for name, processor in processors:
        fn = getattr(processor, hook, None)
        if fn is None:
            continue
        try:
            env.bridge.call(fn, *args)
        except Exception as exc:  # noqa: BLE001 - a processor never loses a result
            text = f"processor '{name}' {hook} failed: {type(exc).__name__}: {exc}"
            logger.warning(text)
            warnings.append(text)


def _run_body(env: ExecutionEnv, task: TaskDefinition, host: Host, depth: int) -> AnyHostResult:
    connector = _HostConnector(env, host.id, task)
    try:
        if task.declares_connection:
            connector.open_primary()
        result = env.bridge.call(task.body, task.info, host, TaskRuntimeContext(connector, depth))
    except ConnectionOpenError as exc:
        return TaskFailureResult(
            message=str(exc),
            kind=exc.kind,
            retryable=exc.retryable,
            details={"attempts": getattr(exc, "attempts", 1), "traceback": getattr(exc, "cause_traceback", None)},
        )
    except PluginError as exc:  # unknown plugin, no plugin for the platform, ambiguous
        return TaskFailureResult(
            message=str(exc), kind=TaskFailureKind.UNSUPPORTED if "no connection plugin" in str(exc) else TaskFailureKind.VALIDATION
        )
    except GenjaError as exc:
        return failure_from_exception(exc, _host_secrets(env, host.id))
    except Exception as exc:  # noqa: BLE001 - a raising task is a failed host, never a crash
        return failure_from_exception(exc, _host_secrets(env, host.id))
    if not isinstance(result, RESULT_TYPES):
        return TaskFailureResult(
            message=(
                f"task '{task.name}' returned {type(result).__name__}; return TaskSuccessResult, "
                f"TaskFailureResult or TaskSkipResult"
            ),
            kind=TaskFailureKind.INTERNAL,
        )
    return result


def _run_with_retry(env: ExecutionEnv, task: TaskDefinition, host: Host, depth: int) -> AnyHostResult:
    result = _run_body(env, task, host, depth)
    retry = env.runner_config.retry
    attempt = 1
    while (
        retry.allow
        and attempt < retry.max_attempts
        and isinstance(result, TaskFailureResult)
        and result.retryable
        and not env.cancelled.is_set()
    ):
        attempt += 1
        if retry.delay_ms:
            time.sleep(retry.delay_ms / 1000)
        result = _run_body(env, task, host, depth)
    if attempt > 1 and not isinstance(result, TaskSkipResult):
        result.attempts = attempt
    return result


def _not_run(reason: str, message: str) -> TaskSkipResult:
    skip = TaskSkipResult(reason=reason, message=message)
    skip.set_timing(time.time_ns(), 0)  # decided now, took no time
    return skip


def _run_node(
    env: ExecutionEnv,
    task: TaskDefinition,
    host: Host,
    node: TaskResults,
    depth: int,
    observers: Sequence[tuple[str, Any]],
) -> AnyHostResult:
    # Timing: a sub-task's result spans its body (with retries); the root's result is timed
    # by run_host over the whole host execution. Two clock reads each, nothing else.
    if depth:
        started_ns, t0 = time.time_ns(), time.perf_counter_ns()
        result = _run_with_retry(env, task, host, depth)
        result.set_timing(started_ns, time.perf_counter_ns() - t0)
    else:
        result = _run_with_retry(env, task, host, depth)
    node.hosts[host.id] = result
    if not task.sub_tasks:
        return result
    if isinstance(result, TaskFailureResult):
        for sub in task.sub_tasks:
            node.sub_task(sub.name).hosts[host.id] = _not_run(
                "parent_failed", f"not run: parent task '{task.name}' failed on this host"
            )
        return result
    if depth + 1 > env.max_depth:
        for sub in task.sub_tasks:
            node.sub_task(sub.name).hosts[host.id] = _not_run(
                "max_depth_exceeded", f"not run: sub-task depth {depth + 1} exceeds max_depth {env.max_depth}"
            )
        return result
    for sub in task.sub_tasks:
        own = env.processors(sub)
        procs = list({name: p for name, p in [*observers, *own]}.items())
        warnings: list[str] = []
        if procs:
            call_processor_hooks(env, procs, "subtask_started", (sub.info, host), warnings)
        sub_result = _run_node(env, sub, host, node.sub_task(sub.name), depth + 1, observers)
        if procs:
            call_processor_hooks(env, procs, "subtask_completed", (sub.info, host, sub_result), warnings)
        if warnings:
            sub_result.warnings.extend(warnings)
    return result


def host_timeout(env: ExecutionEnv, task: TaskDefinition) -> float | None:
    """The whole-host deadline of ``task``: its ``host_timeout_s`` option, else the runner's."""
    value = task.info.options.get("host_timeout_s", env.runner_config.host_timeout_s)
    return float(value) if value else None


def _run_root_node(
    env: ExecutionEnv, task: TaskDefinition, host: Host, tree: TaskResults, processors: Sequence[tuple[str, Any]], token: Any
) -> AnyHostResult:
    if env.hooks is None:
        return _run_node(env, task, host, tree, 0, processors)
    hooks = env.hooks
    with hooks.host_context(token), host_notes(lambda level, text: hooks.host_log(token, level, text)):
        return _run_node(env, task, host, tree, 0, processors)


def _timed_out(env: ExecutionEnv, task: TaskDefinition, host: Host, tree: TaskResults, timeout: float) -> AnyHostResult:
    """The result of a host past its deadline; its connections are closed so blocked I/O ends
    (the abandoned thread's late result is discarded: see engine/deadline.py)."""
    try:
        env.resolver.close_host(host.id)
    except Exception:  # noqa: BLE001 - closing must never cost the host its result
        logger.debug("closing the connections of %s after its deadline failed", host.id, exc_info=True)
    result = TaskFailureResult(
        message=f"'{task.name}' did not finish on {host.id} within host_timeout_s={timeout:g} s; its connections were closed",
        kind=TaskFailureKind.TIMEOUT,
        retryable=True,
    )
    tree.hosts[host.id] = result
    for sub in task.sub_tasks:
        tree.sub_task(sub.name).hosts[host.id] = TaskSkipResult(
            reason="parent_failed", message=f"not run: parent task '{task.name}' timed out on this host"
        )
    return result


def run_host(env: ExecutionEnv, task: TaskDefinition, host: Host, skip: TaskSkipResult | None = None) -> TaskResults:
    """Run a root task and its sub-tasks on one host; return that host's result tree.

    With ``skip`` the host is not run but recorded (processors, orchestrator) as skipped.
    """
    tree = TaskResults(task.name)
    processors = env.processors(task)
    # The root result's timing spans the host execution (its task run's start, processors'
    # host_started, the task tree); the host's Prefect task run takes its start and end
    # times from it.
    started_ns, t0 = time.time_ns(), time.perf_counter_ns()
    token = env.hooks.host_started(task, host) if env.hooks is not None else None
    warnings: list[str] = []
    if processors:
        call_processor_hooks(env, processors, "host_started", (task.info, host), warnings)
    if skip is None and env.cancelled.is_set():
        skip = TaskSkipResult(reason="cancelled", message="the run was cancelled before this host started")
    if skip is not None:
        result: AnyHostResult = skip
        tree.hosts[host.id] = result
    else:
        timeout = host_timeout(env, task)
        if timeout is None:
            result = _run_root_node(env, task, host, tree, processors, token)
        else:
            inner = TaskResults(task.name)
            finished, late = run_with_deadline(
                lambda: _run_root_node(env, task, host, inner, processors, token), timeout, f"genja-{task.name}-{host.id}"
            )
            if finished and late is not None:
                tree, result = inner, late
            else:
                result = _timed_out(env, task, host, tree, timeout)
    # Timed before host_completed, so processors see the result's timing.
    result.set_timing(started_ns, time.perf_counter_ns() - t0)
    if processors:
        call_processor_hooks(env, processors, "host_completed", (task.info, host, result), warnings)
    if warnings:
        result.warnings.extend(warnings)
    if env.hooks is not None:
        env.hooks.host_finished(token, task, host, result)
    listener = _progress.get()
    if listener is not None:
        try:
            listener(task.name, host.id, result)
        except Exception:  # noqa: BLE001 - a display must never fail a host
            logger.debug("progress listener failed", exc_info=True)
    return tree


def execute_host(env: ExecutionEnv, task: TaskDefinition, host: Host) -> TaskResults:
    """A root task on one host inside a run: :func:`run_host`, never raising, and closing the
    host's connections after its last root task of the run."""
    try:
        tree = run_host(env, task, host)
    except Exception as exc:  # noqa: BLE001 - an engine bug must still leave one result per host
        tree = TaskResults(task.name)
        tree.hosts[host.id] = failure_from_exception(exc)
    if env.close_after_host:
        # The host's last root task of the run is done: free its sessions now rather than
        # holding every session of the inventory open until the run ends.
        try:
            close_errors = env.resolver.close_host(host.id)
        except Exception as exc:  # noqa: BLE001 - closing must never cost a host its result
            close_errors = [f"closing the connections of '{host.id}' failed: {type(exc).__name__}: {exc}"]
        for text in close_errors:
            result = tree.hosts.get(host.id)
            if result is not None:
                result.warnings.append(text)
    return tree


def run_definition_on_host(
    task: TaskDefinition,
    host: Host | str,
    connection_resolver: TaskConnectionResolver | None,
    max_depth: int | None,
) -> TaskResults:
    """``TaskDefinition.run_on_host``: inside a run use the run's environment, else a private one."""
    env = current_env()
    if env is not None:
        if max_depth is not None and max_depth != env.max_depth:
            env = _with_depth(env, max_depth)
        if connection_resolver is not None and connection_resolver is not env.resolver:
            env = _with_resolver(env, connection_resolver)
        view = env.host(host) if isinstance(host, str) else host
        return execute_host(env, task, view)
    if connection_resolver is None:
        inventory = Inventory.from_dict({host if isinstance(host, str) else host.id: {}})
        connection_resolver = TaskConnectionResolver(inventory, PluginManager(), RunnerConfig())
    private = ExecutionEnv(
        inventory=connection_resolver.inventory,
        plugin_manager=connection_resolver.plugin_manager,
        runner_config=connection_resolver.runner_config,
        resolver=connection_resolver,
        bridge=connection_resolver.bridge,
        max_depth=max_depth if max_depth is not None else connection_resolver.runner_config.max_task_depth,
    )
    view = private.host(host) if isinstance(host, str) else host
    return run_host(private, task, view)


def _with_depth(env: ExecutionEnv, max_depth: int) -> ExecutionEnv:
    from dataclasses import replace

    return replace(env, max_depth=max_depth)


def _with_resolver(env: ExecutionEnv, resolver: TaskConnectionResolver) -> ExecutionEnv:
    from dataclasses import replace

    return replace(env, resolver=resolver)

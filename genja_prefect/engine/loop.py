"""The run loop: one ``run_tasks`` call, from the first root task to the last closed connection.

Each root task goes to the configured runner plugin's ``run_task`` (or the whole list to a
runner's ``run_tasks``). An orchestrator -- the Prefect adapter -- observes host executions
through :class:`~genja_prefect.engine.execution.HostRunHooks` and wraps root tasks with a
:data:`RootWrapper` (a subflow each); :func:`run_plain` takes both, and the engine never imports
the orchestrator.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from genja_prefect.engine.bridge import AsyncBridge
from genja_prefect.engine.execution import (
    ExecutionEnv,
    HostRunHooks,
    call_processor_hooks,
    reset_current_env,
    run_host,
    set_current_env,
)
from genja_prefect.engine.resolver import TaskConnectionResolver
from genja_prefect.engine.rollout import rollout_of, run_rollout
from genja_prefect.results import RunResults, TaskResults
from genja_prefect.runner import BatchRunnerPluginBase, RunnerPluginBase

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition
    from genja_prefect.runtime import Genja
    from genja_prefect.task import Host

#: ``wrapper(task, run_root)`` runs one root task (``run_root()``) inside whatever the
#: orchestrator wraps it in (a Prefect subflow) and returns its results.
RootWrapper = Callable[["TaskDefinition", Callable[[], TaskResults]], TaskResults]
#: ``wrapper(tasks, run_all)`` does the same for a runner that runs the whole task list itself.
RootsWrapper = Callable[[Sequence["TaskDefinition"], Callable[[], list[TaskResults]]], list[TaskResults]]

logger = logging.getLogger(__name__)


_configured: set[tuple[Any, ...]] = set()


def configure_logging(config: Any, base_dir: Any) -> None:
    """Apply the ``logging`` settings to the ``genja_prefect`` logger (once per configuration)."""
    key = (config.enabled, config.level, config.log_file, config.to_console, str(base_dir))
    if key in _configured:
        return
    _configured.add(key)
    root = logging.getLogger("genja_prefect")
    if not config.enabled:
        root.disabled = True
        return
    root.disabled = False
    root.setLevel(config.level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.log_file:
        from pathlib import Path

        handler: logging.Handler = logging.FileHandler(Path(base_dir) / config.log_file)
        handler.setFormatter(fmt)
        root.addHandler(handler)
    if config.to_console:
        handler = logging.StreamHandler()
        handler.setFormatter(fmt)
        root.addHandler(handler)


def prepare(runtime: "Genja", tasks: Sequence["TaskDefinition"], max_depth: int) -> ExecutionEnv:
    """Check the plugins the run needs (before any host is touched) and build its environment."""
    manager = runtime.plugin_manager
    manager.get("runner", runtime.settings.runner.plugin)
    for root in tasks:
        for definition in root.walk():
            for name in definition.info.processors:
                manager.get("processor", name)
    env = make_env(runtime.inventory, manager, runtime.settings.runner, max_depth)
    env.add_host_views(runtime.host_views())
    return env


def make_env(inventory: Any, manager: Any, runner_config: Any, max_depth: int) -> ExecutionEnv:
    """A fresh execution environment: its own event-loop bridge and connection cache."""
    bridge = AsyncBridge()
    resolver = TaskConnectionResolver(inventory, manager, runner_config, bridge)
    return ExecutionEnv(
        inventory=inventory,
        plugin_manager=manager,
        runner_config=runner_config,
        resolver=resolver,
        bridge=bridge,
        max_depth=max_depth,
    )


def finish(env: ExecutionEnv) -> list[str]:
    """Close every connection of the run and stop its event loop; returns close errors."""
    try:
        return env.resolver.close_all()
    finally:
        env.bridge.close()


def _call_maybe_async(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.iscoroutine(result):
        # A custom async runner runs on its own loop in this thread; anything async that its
        # host executions need goes to the run's bridge loop, so the two never block each other.
        return asyncio.run(result)
    return result


def _overrides_run_tasks(runner: RunnerPluginBase) -> bool:
    return isinstance(runner, BatchRunnerPluginBase) and (
        type(runner).run_tasks is not BatchRunnerPluginBase.run_tasks
    )


def run_root(
    env: ExecutionEnv,
    runtime: "Genja",
    task: "TaskDefinition",
    host_ids: list[str],
) -> TaskResults:
    """Run one root task on the selected hosts with the configured runner plugin."""
    settings = runtime.settings
    processors = env.processors(task)
    warnings: list[str] = []
    if processors:
        call_processor_hooks(env, processors, "task_started", (task.info, list(host_ids)), warnings)
    runner = runtime.plugin_manager.get("runner", settings.runner.plugin)
    hosts = {h: env.host(h) for h in host_ids}

    def run_wave(wave: dict[str, Host]) -> TaskResults:
        out = _call_maybe_async(runner.run_task, task, wave, env.resolver, settings.runner, env.max_depth)
        return _check_results(out, task.name, runner)

    rollout = rollout_of(task, settings.runner.rollout)
    if rollout is None:
        results = run_wave(hosts)
    else:
        results = run_rollout(task, hosts, rollout, run_wave, lambda host, skip: run_host(env, task, host, skip))
    if processors:
        call_processor_hooks(env, processors, "task_completed", (task.info, results), warnings)
    for text in warnings:
        logger.warning(text)
    return results


def _check_results(results: Any, task_name: str, runner: Any) -> TaskResults:
    if not isinstance(results, TaskResults):
        raise TypeError(
            f"runner '{runner.name}' returned {type(results).__name__} for task '{task_name}'; "
            f"run_task must return TaskResults"
        )
    if results.task_name != task_name:
        fixed = TaskResults(task_name)
        fixed.merge(TaskResults(task_name, results.hosts, results.sub_tasks))
        return fixed
    return results


def run_plain(
    runtime: "Genja",
    tasks: Sequence["TaskDefinition"],
    max_depth: int,
    hooks: HostRunHooks | None = None,
    root_wrapper: RootWrapper | None = None,
    roots_wrapper: RootsWrapper | None = None,
) -> RunResults:
    """Run root tasks in order; the wrappers let an orchestrator wrap each in a subflow."""
    env = prepare(runtime, tasks, max_depth)
    env.hooks = hooks
    host_ids = runtime.host_ids()
    token = set_current_env(env)
    try:
        runner = runtime.plugin_manager.get("runner", runtime.settings.runner.plugin)
        if _overrides_run_tasks(runner):
            hosts = {h: env.host(h) for h in host_ids}

            def run_all() -> list[TaskResults]:
                # The runner interleaves root tasks as it likes: connections close when the run ends.
                out = _call_maybe_async(
                    runner.run_tasks, list(tasks), hosts, env.resolver, runtime.settings.runner, max_depth
                )
                return [_check_results(r, t.name, runner) for r, t in zip(out, tasks)]

            return RunResults(roots_wrapper(tasks, run_all) if roots_wrapper else run_all())
        results = RunResults()
        for index, task in enumerate(tasks):
            def one(task: "TaskDefinition" = task, last: bool = index == len(tasks) - 1) -> TaskResults:
                env.close_after_host = last
                return run_root(env, runtime, task, host_ids)

            results.append(root_wrapper(task, one) if root_wrapper else one())
        return results
    finally:
        reset_current_env(token)
        finish(env)  # close errors were logged by the resolver



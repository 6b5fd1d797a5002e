"""Scale-out on Dask: host executions as Prefect task runs on Dask workers (prefect-dask).

With ``settings.prefect.task_runner: dask`` each root task's subflow uses prefect-dask's
``DaskTaskRunner`` and the run uses the ``dask`` runner plugin (:class:`DaskRunner`, through the
same runner seam as ``threaded``): every host execution is a Prefect task run ``TASK@HOST`` executed by
Prefect's own task engine in a Dask worker process, so it is retried, logged and shown like
any Prefect task. The cluster is a ``LocalCluster`` of ``prefect.dask_workers`` processes, or
the scheduler at ``prefect.dask_address`` (a cluster spanning machines).

What a worker needs (inventory, plugins, task definitions, runner settings) is sent once per
run to every worker (``Client.run``), not with each host. Each worker keeps its own
connection cache for the run -- one connection per (host, plugin) per worker process -- and
closes it when the run ends (also on failure).
"""

from __future__ import annotations

import contextvars
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genja_prefect.definition import TaskDefinition
from genja_prefect.engine.execution import ExecutionEnv, run_host
from genja_prefect.engine.loop import finish, make_env
from genja_prefect.errors import PluginError
from genja_prefect.inventory import Inventory
from genja_prefect.plugins import PluginManager
from genja_prefect.prefect.naming import host_run_name, host_tags
from genja_prefect.results import TaskResults
from genja_prefect.runner import RunnerPluginBase
from genja_prefect.settings import RunnerConfig

if TYPE_CHECKING:
    from genja_prefect.engine.resolver import TaskConnectionResolver
    from genja_prefect.runtime import Genja
    from genja_prefect.task import Host


@dataclass
class RunSpec:
    """Everything a worker needs to execute hosts of one run."""

    run_id: str
    inventory: Inventory
    plugin_manager: PluginManager
    runner_config: RunnerConfig
    tasks: list[TaskDefinition]
    max_depth: int


# -- worker side ---------------------------------------------------------------------------
_RUNS: dict[str, RunSpec] = {}
_ENVS: dict[str, ExecutionEnv] = {}
_LOCK = threading.Lock()


def install_run(run_id: str, payload: bytes) -> bool:
    """(On each worker) keep the run's spec until :func:`close_run`."""
    import cloudpickle

    _RUNS[run_id] = cloudpickle.loads(payload)
    return True


def _env(run_id: str) -> ExecutionEnv:
    with _LOCK:
        env = _ENVS.get(run_id)
        if env is None:
            spec = _RUNS[run_id]
            env = _ENVS[run_id] = make_env(spec.inventory, spec.plugin_manager, spec.runner_config, spec.max_depth)
        return env


def execute_host(run_id: str, root: int, host_id: str) -> TaskResults:
    """(On a worker, as a Prefect task) run root task ``root`` on ``host_id``."""
    env = _env(run_id)
    task = _RUNS[run_id].tasks[root]
    return run_host(env, task, env.host(host_id))


def close_run(run_id: str) -> list[str]:
    """(On each worker) close the run's connections and forget it; returns close errors."""
    with _LOCK:
        env = _ENVS.pop(run_id, None)
        _RUNS.pop(run_id, None)
    return finish(env) if env is not None else []


# -- driver side ---------------------------------------------------------------------------
class DaskRun:
    """One run's cluster connection: installs the spec on workers, submits hosts, cleans up."""

    def __init__(self, address: str, runtime: "Genja", tasks: Sequence[TaskDefinition], max_depth: int) -> None:
        import cloudpickle
        import distributed

        self.address = address
        self.run_id = uuid.uuid4().hex
        self.client = distributed.Client(address, set_as_default=False)
        spec = RunSpec(self.run_id, runtime.inventory, runtime.plugin_manager, runtime.settings.runner, list(tasks), max_depth)
        _register_by_value(tasks, runtime.plugin_manager)
        self.client.run(install_run, self.run_id, cloudpickle.dumps(spec))
        self.roots = {id(t): i for i, t in enumerate(tasks)}

    @contextmanager
    def active(self) -> Iterator[None]:
        """While inside, the ``dask`` runner plugin submits to this run."""
        token = _ACTIVE_RUN.set(self)
        try:
            yield
        finally:
            _ACTIVE_RUN.reset(token)

    def run_root(self, task: TaskDefinition, hosts: dict[str, "Host"]) -> TaskResults:
        """Submit every host of a root task as a Prefect task run (inside a DaskTaskRunner subflow)."""
        from prefect import task as prefect_task
        from prefect.cache_policies import NONE

        host_task = prefect_task(name=task.name, persist_result=False, cache_policy=NONE)(execute_host)
        root = self.roots[id(task)]
        futures = [
            host_task.with_options(task_run_name=host_run_name(task.name, h), tags=host_tags(host)).submit(
                self.run_id, root, h
            )
            for h, host in hosts.items()
        ]
        results = TaskResults(task.name)
        for future in futures:
            results.merge(future.result())
        return results

    def close(self) -> list[str]:
        try:
            per_worker = self.client.run(close_run, self.run_id)
            return [err for errors in per_worker.values() for err in errors]
        finally:
            self.client.close()


_ACTIVE_RUN: contextvars.ContextVar[DaskRun | None] = contextvars.ContextVar("genja_prefect_dask_run", default=None)


class DaskRunner(RunnerPluginBase):
    """The ``dask`` runner: each host of a root task is a Prefect task run on a Dask worker.

    Selected by ``settings.prefect.task_runner: dask``, which also starts (or connects to) the
    cluster and gives each root task's subflow prefect-dask's ``DaskTaskRunner``.
    """

    name = "dask"

    def run_task(
        self,
        task: TaskDefinition,
        hosts: dict[str, "Host"],
        connection_resolver: "TaskConnectionResolver",
        runner_config: RunnerConfig,
        max_depth: int,
    ) -> TaskResults:
        run = _ACTIVE_RUN.get()
        if run is None:
            raise PluginError(
                "the 'dask' runner runs only inside a Prefect run with a Dask cluster: set "
                "prefect.task_runner: dask in settings.yaml instead of runner.plugin: dask"
            )
        return run.run_root(task, hosts)


@contextmanager
def dask_cluster(runtime: "Genja", host_count: int) -> Iterator[str]:
    """The scheduler address to use: ``prefect.dask_address``, or a LocalCluster started here."""
    config = runtime.settings.prefect
    if config.dask_address:
        yield config.dask_address
        return
    from distributed import LocalCluster

    workers = runtime.settings.runner.effective_worker_count(max(host_count, 1))
    # distributed logs its scheduler's start and close at INFO (20-odd lines, and a benign
    # "Batched Comm Closed" traceback when a worker goes first); LocalCluster's silence_logs
    # covers its workers only. A run's output is the hosts' results: WARNING and up while the
    # cluster lives.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        cluster = LocalCluster(
            n_workers=config.dask_workers,
            threads_per_worker=max(1, math.ceil(workers / config.dask_workers)),
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        try:
            yield cluster.scheduler_address
        finally:
            _retire_workers(cluster)
            cluster.close()
    finally:
        quiet.setLevel(level)


def _retire_workers(cluster: Any, timeout: float = 30.0) -> None:
    """Let the workers leave before the scheduler closes: closed first, a worker's next heartbeat
    fails and it logs an ERROR traceback ("Failed to communicate with scheduler during
    heartbeat") into the run's output. Bounded: whatever is left is closed with the cluster."""
    try:
        cluster.scale(0)
        deadline = time.monotonic() + timeout
        # gone from the scheduler, and their nanny processes closed (SpecCluster.workers)
        while (cluster.scheduler_info.get("workers") or cluster.workers) and time.monotonic() < deadline:
            time.sleep(0.05)
    except Exception as exc:  # noqa: BLE001 - closing anyway; this only keeps the output clean
        logging.getLogger(__name__).debug("retiring the Dask workers before closing: %s", exc)


def _register_by_value(tasks: Sequence[TaskDefinition], manager: PluginManager) -> None:
    """Ship user-defined task and plugin classes by value: workers may not import their modules."""
    import cloudpickle

    modules = set()
    for root in tasks:
        for definition in root.walk():
            modules.add(type(definition.instance).__module__)
    for kind in ("connection", "processor"):
        for plugin in manager.plugins(kind).values():
            modules.add(type(plugin).__module__)
    for name in modules:
        if name.split(".")[0].startswith("genja_prefect") or name == "__main__":
            continue
        module = sys.modules.get(name)
        if module is not None:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                pass

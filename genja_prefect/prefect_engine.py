"""The Prefect side of the engine: a flow run per ``run_tasks``, a subflow per root task, a
Prefect task run per host execution (or per batch of hosts), and artifacts per root task.

Mapping (see DESIGN.md section 2):

- ``run_tasks(tasks)`` is one flow run of the flow ``settings.prefect.flow_name``
  (``genja-run``), named after the job. Called inside a running Prefect flow (e.g. one of the
  ready-made flows in ``flows/`` or the user's own), that flow run is used instead.
- each root task is a subflow named after the task, run in list order. Subflows run with
  Prefect's flow-run heartbeat off unless ``prefect.subflow_heartbeats`` is set: the outer
  flow run already heartbeats, and each subflow heartbeat costs ~1 s when it ends.
- each host execution of a root task (its sub-tasks included) is one task run
  ``TASK@HOST`` tagged ``host:<id>``, ``platform:<p>`` and ``group:<g>``; in batch mode one
  task run ``TASK@batch-N`` covers ``batch_size`` hosts (results and artifact rows stay per host).
- the flow run's final state: Completed, with the failed-host count in its message, unless
  every host of every root task failed (and there was at least one), then Failed. The result
  tree is returned either way.

The outer flow run's only parameter is ``invocation``: what ``Genja.with_run_parameters``
recorded (the CLI records the job, settings path and filters). Nothing of the inventory (and
so no secret) is stored in Prefect's database except task-run names, tags, state messages and
artifact rows.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from genja_prefect.definition import TaskDefinition
from genja_prefect.engine import run_plain
from genja_prefect.prefect_events import tune_ephemeral_server
from genja_prefect.prefect_runs import HostRunRecorder, flow_heartbeats_disabled
from genja_prefect.prefect_subflows import RootSubflow, SubflowPlan
from genja_prefect.results import HostTaskResult, RunResults, TaskResults
from genja_prefect.task import Host

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from genja_prefect.dask_runner import DaskRun
    from genja_prefect.runtime import Genja

logger = logging.getLogger("genja_prefect.prefect")

_SLUG = re.compile(r"[^a-z0-9-]+")
_ACTIVE: dict[str, Callable[[], TaskResults]] = {}


def _enter(token: str) -> TaskResults:
    return _ACTIVE[token]()


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "task"


def host_tags(host: Host) -> list[str]:
    """The Prefect tags of a host's task run."""
    tags = [f"host:{host.id}"]
    if host.platform:
        tags.append(f"platform:{host.platform}")
    tags.extend(f"group:{g}" for g in host.groups)
    return tags


def _state_message(result: HostTaskResult) -> str:
    if result.status == "failed":
        return f"failed ({result.kind.value}): {result.message}"  # type: ignore[union-attr]
    if result.status == "skipped":
        return f"skipped ({result.reason})"  # type: ignore[union-attr]
    return result.summary or "passed"  # type: ignore[union-attr]


class PrefectHooks:
    """Records host executions as Prefect task runs of the current root task's subflow."""

    def __init__(self, mode: str, batch_size: int) -> None:
        self.mode = mode
        self.batch_size = batch_size
        self.recorder: HostRunRecorder | None = None
        self.last_recorder: HostRunRecorder | None = None
        self._batches: dict[int, list[Any]] = {}
        self._index: dict[str, int] = {}
        self._sizes: dict[int, int] = {}

    def begin_root(self, recorder: HostRunRecorder, task: TaskDefinition, host_ids: Sequence[str]) -> None:
        self.recorder = recorder
        self._batches = {}
        if self.mode == "batch":
            self._index = {h: i // self.batch_size for i, h in enumerate(host_ids)}
            self._sizes = {}
            for b in self._index.values():
                self._sizes[b] = self._sizes.get(b, 0) + 1
            self._lock = threading.Lock()

    def host_started(self, task: TaskDefinition, host: Host) -> Any:
        recorder = self.recorder
        if recorder is None:
            return None
        if self.mode != "batch":
            return recorder.start(f"{task.name}@{host.id}", task_key=f"genja.{task.name}", tags=host_tags(host))
        batch = self._index.get(host.id, -1)
        with self._lock:
            entry = self._batches.get(batch)
            if entry is None:
                first = batch * self.batch_size + 1
                last = first + self._sizes.get(batch, 1) - 1
                run = recorder.start(
                    f"{task.name}@batch-{batch + 1} (hosts {first}-{last})",
                    task_key=f"genja.{task.name}.batch",
                    tags=[f"batch:{batch + 1}"],
                )
                entry = self._batches[batch] = [run, 0, 0]  # run, done, failed
        recorder.logger(entry[0]).debug("host %s started", host.id)
        return batch

    def host_context(self, token: Any) -> Any:
        """Inside a host's per-host task run, ``prefect.get_run_logger()`` logs to that run."""
        if self.recorder is None or token is None or self.mode == "batch":
            return nullcontext()
        return self.recorder.context(token)

    def host_finished(self, token: Any, task: TaskDefinition, host: Host, result: HostTaskResult) -> None:
        recorder = self.recorder
        if recorder is None or token is None:
            return
        failed = result.status == "failed"
        if self.mode != "batch":
            message = _state_message(result)
            if failed:
                recorder.logger(token).warning("%s", message)
            cancelled = result.status == "skipped" and result.reason == "cancelled"  # type: ignore[union-attr]
            recorder.finish(token, ok=not failed, message=message, cancelled=cancelled)
            return
        with self._lock:
            entry = self._batches[token]
            entry[1] += 1
            entry[2] += int(failed)
            complete = entry[1] == self._sizes.get(token, 0)
        if failed:
            recorder.logger(entry[0]).warning("%s: %s", host.id, _state_message(result))
        if complete:
            done, nfailed = entry[1], entry[2]
            recorder.finish(
                entry[0],
                ok=nfailed < done,
                message=f"{done} hosts, {nfailed} failed",
            )


def _publish_artifacts(task: TaskDefinition, results: TaskResults, create: Callable[[str, str, Any, str], Any]) -> None:
    """A table (one row per host) and a markdown summary for a root task.

    ``create(key, type, data, description)`` creates one artifact on the root task's subflow run.
    """
    rows = [
        {
            "host": host_id,
            "status": r.status,
            "summary": getattr(r, "summary", None) or getattr(r, "message", None) or getattr(r, "reason", "") or "",
            "changed": bool(getattr(r, "changed", False)),
            "failure_kind": r.kind.value if r.status == "failed" else "",  # type: ignore[union-attr]
        }
        for host_id, r in results.hosts.items()
    ]
    key = f"genja-{_slug(task.name)}"
    create(key, "table", rows, f"Per-host results of {task.name}")
    summary = results.task_summary()
    lines = [
        f"# {task.name}",
        "",
        f"- hosts: {len(results.hosts)} ({results.host_summary()})",
        f"- whole tree (sub-tasks included): {summary.tasks} task(s), {summary.hosts}",
    ]
    failed = results.failed_hosts
    if failed:
        lines += ["", "## Failed hosts", ""]
        lines += [f"- `{h}`: {_state_message(results.hosts[h])}" for h in failed[:200]]
        if len(failed) > 200:
            lines.append(f"- ... and {len(failed) - 200} more")
    create(f"{key}-summary", "markdown", "\n".join(lines), f"Summary of {task.name}")


def _prefect_artifact(key: str, artifact_type: str, data: Any, description: str) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    if artifact_type == "table":
        create_table_artifact(table=data, key=key, description=description)
    else:
        create_markdown_artifact(markdown=data, key=key, description=description)


def _final_state(results: RunResults) -> Any:
    from prefect.states import Completed, Failed

    total = sum(len(r.hosts) for r in results)
    failed = sum(len(r.failed_hosts) for r in results)
    message = f"{len(results)} root task(s), {total} host result(s), {failed} failed"
    if total and failed == total:
        return Failed(message=message, data=results)
    return Completed(message=message, data=results)


def _run_root_on_dask(dask: "DaskRun", runtime: "Genja", task: TaskDefinition, host_ids: Sequence[str]) -> TaskResults:
    """A root task with processors' task hooks here and host executions on Dask workers."""
    from genja_prefect.execution import _call_hooks, current_env

    env = current_env()
    assert env is not None
    processors = env.processors(task)
    warnings: list[str] = []
    if processors:
        _call_hooks(env, processors, "task_started", (task.info, list(host_ids)), warnings)
    results = dask.run_root(task, host_ids, runtime._host_views())
    if processors:
        _call_hooks(env, processors, "task_completed", (task.info, results), warnings)
    for text in warnings:
        logger.warning(text)
    return results


def _root_message(results: TaskResults) -> tuple[bool, str]:
    total, failed = len(results.hosts), len(results.failed_hosts)
    return (not total or failed < total), f"{total} hosts: {results.host_summary()}"


def _run_root_subflow(
    sub: RootSubflow,
    runtime: "Genja",
    task: TaskDefinition,
    host_ids: Sequence[str],
    hooks: PrefectHooks,
    run_root: Callable[[], TaskResults],
) -> TaskResults:
    """Run a root task in its pre-created subflow run."""
    sub.start()
    # Running -> Completed/Failed only: a Pending state per host would add a third to what
    # the server must ingest, for no information (the host starts the moment it is recorded).
    # Coalesced: a host done before its Running event was sent is recorded with one event.
    recorder = HostRunRecorder(
        sub.id,
        flow_run_name=sub.run_name,
        flow_id=sub.flow_id,
        flow_name=task.name,
        record_pending=False,
        coalesce=True,
        tag_resources=runtime.settings.prefect.tag_events,
    )
    hooks.begin_root(recorder, task, host_ids)
    try:
        results = run_root()
    except BaseException as exc:
        # Ctrl-C, or Prefect cancelling the run (SIGTERM turned into an exception): what is
        # still running is cancelled, not failed; an error in the engine fails the subflow.
        interrupted = not isinstance(exc, Exception)
        why = "the run was cancelled" if interrupted else f"the root task raised {type(exc).__name__}"
        recorder.close(message=f"{why} before this host finished", timeout=0, cancelled=interrupted)
        hooks.last_recorder = recorder
        if interrupted:
            sub.cancel(message=f"{why} while hosts were running")
        raise
    # Hand over what is left without waiting: the next root task starts at once, and the run
    # waits for delivery once, at its end (see run_with_prefect).
    recorder.close(message="the run stopped before this host finished", timeout=0)
    hooks.last_recorder = recorder
    if runtime.settings.prefect.artifacts:
        _publish_artifacts(task, results, sub.create_artifact)
    ok, message = _root_message(results)
    sub.finish(ok=ok, message=message)
    return results


def _host_run_mode(runtime: "Genja") -> str:
    config = runtime.settings.prefect
    if config.host_runs != "auto":
        return config.host_runs
    return "batch" if runtime.host_count() > config.batch_threshold else "per_host"


def run_with_prefect(runtime: "Genja", tasks: Sequence[TaskDefinition], max_depth: int) -> RunResults:
    """Run root tasks as a Prefect flow run (or inside the current one)."""
    from prefect import flow
    from prefect.context import FlowRunContext

    config = runtime.settings.prefect
    if config.tune_ephemeral_server:
        tune_ephemeral_server()
    hooks = PrefectHooks(_host_run_mode(runtime), config.batch_size)
    host_ids = runtime.host_ids()

    dask: Any = None  # a DaskRun while the job runs with task_runner: dask

    subflows: list[RootSubflow] = []  # pre-created, consumed in root order

    def root_wrapper(task: TaskDefinition, run_root: Callable[[], TaskResults]) -> TaskResults:
        if dask is None:
            return _run_root_subflow(subflows.pop(0), runtime, task, host_ids, hooks, run_root)

        def subflow_body() -> TaskResults:
            results = _run_root_on_dask(dask, runtime, task, host_ids)
            if config.artifacts:
                _publish_artifacts(task, results, _prefect_artifact)
            return results

        options: dict[str, Any] = {}
        if dask is not None:
            from prefect_dask.task_runners import DaskTaskRunner

            options["task_runner"] = DaskTaskRunner(address=dask.address)
        token = uuid.uuid4().hex
        _ACTIVE[token] = subflow_body

        def root_task_subflow() -> TaskResults:
            # Captures only a string: Prefect serializes the flow (with its closure) into
            # the context it ships to Dask workers, and the run's objects do not pickle.
            return _enter(token)

        subflow = flow(
            name=task.name,
            flow_run_name=f"{task.name} ({len(host_ids)} hosts)",
            validate_parameters=False,
            log_prints=False,
            persist_result=False,
            **options,
        )(root_task_subflow)
        quiet = nullcontext() if config.subflow_heartbeats else flow_heartbeats_disabled()
        try:
            with quiet:
                state = subflow(return_state=True)
        finally:
            _ACTIVE.pop(token, None)
        return state.result(raise_on_failure=True)

    def run_all() -> RunResults:
        nonlocal dask
        if config.task_runner != "dask":
            from prefect.client.orchestration import get_client

            parent = FlowRunContext.get()
            assert parent is not None and parent.flow_run is not None
            with get_client(sync_client=True) as client:
                plan = SubflowPlan(
                    client, parent.flow_run.id, [t.name for t in tasks], lambda n: f"{n} ({len(host_ids)} hosts)"
                )
                subflows[:] = plan.subflows
                try:
                    return run_plain(runtime, tasks, max_depth, hooks=hooks, root_wrapper=root_wrapper)
                finally:
                    if hooks.last_recorder is not None and not hooks.last_recorder.flush(config.flush_timeout_s):
                        logger.warning(
                            "Prefect is still ingesting this run's task-run events after %.0fs; "
                            "they keep being delivered in the background",
                            config.flush_timeout_s,
                        )
                    plan.close()
        from genja_prefect.dask_runner import DaskRun, dask_cluster

        with dask_cluster(runtime, len(host_ids)) as address:
            dask = DaskRun(address, runtime, tasks, max_depth)
            try:
                return run_plain(runtime, tasks, max_depth, hooks=None, root_wrapper=root_wrapper)
            finally:
                for text in dask.close():
                    logger.warning(text)
                dask = None

    def job(invocation: dict[str, Any] | None = None) -> Any:
        return _final_state(run_all())

    if FlowRunContext.get() is not None:
        return run_all()

    names = ", ".join(t.name for t in tasks) or "no tasks"
    outer = flow(
        name=config.flow_name,
        flow_run_name=f"{names} on {len(host_ids)} hosts",
        validate_parameters=False,
        log_prints=False,
        persist_result=False,
    )(job)
    # The flow run genja-prefect creates for a Python/CLI call has no worker watching it, so
    # Prefect's heartbeat (which detects crashed runs of deployments) only costs time at its
    # end. Deployment runs of the ready-made flows run inside their own flow and keep it.
    quiet = nullcontext() if config.flow_heartbeats else flow_heartbeats_disabled()
    with quiet:
        state: State[Any] = outer(invocation=runtime.run_parameters or None, return_state=True)  # type: ignore[assignment]  # a sync flow returns the State, not an Awaitable
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        # The job itself raised (a custom runner's bug, Ctrl-C, the Prefect API failing):
        # the caller gets that exception, never a half-made result.
        raise result
    return result  # type: ignore[no-any-return]

"""The Prefect side of the engine: a flow run per ``run_tasks``, a subflow per root task, a
Prefect task run per host execution (or per batch of hosts), and artifacts per root task.

Mapping (docs/architecture.md, "How a run maps onto Prefect"):

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
import sys
import threading
import uuid
from datetime import UTC, datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from genja_prefect.definition import TaskDefinition
from genja_prefect.outcome import NAMED_HOSTS, FailPolicy, HostsFailedError, Outcome
from genja_prefect.engine.loop import run_plain
from genja_prefect.prefect import artifacts
from genja_prefect.prefect.naming import (
    batch_run_name,
    batch_task_key,
    host_run_name,
    SKIPPED_STATE_NAME,
    host_failure_line,
    host_state_message,
    host_tags,
    host_task_key,
    job_name,
    run_name,
    subflow_run_name,
)
from genja_prefect.prefect.locks import HostLocks, limit_names
from genja_prefect.prefect.server import tune_ephemeral_server
from genja_prefect.prefect.jobs import current_job_record
from genja_prefect.prefect.record import RunRecord
from genja_prefect.prefect.subflows import RootSubflow, SubflowPlan
from genja_prefect.prefect.temporary_server import api_url_configured, require_server_for_dask, start_server
from genja_prefect.prefect.task_runs import HostRun, HostRunRecorder, flow_heartbeats_disabled
from genja_prefect.results import AnyHostResult, RunResults, TaskResults
from genja_prefect.task import Host

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from genja_prefect.runtime import Genja

logger = logging.getLogger(__name__)

_ACTIVE: dict[str, Callable[[], TaskResults]] = {}


def _enter(token: str) -> TaskResults:
    return _ACTIVE[token]()


class PrefectHooks:
    """Records host executions as Prefect task runs of their root task's subflow."""

    def __init__(self, mode: str, batch_size: int) -> None:
        self.mode = mode
        self.batch_size = batch_size
        self.locks: HostLocks | None = None  # Prefect concurrency limits hosts must hold
        self.recorder: HostRunRecorder | None = None
        self.last_recorder: HostRunRecorder | None = None
        self._by_task: dict[str, HostRunRecorder] = {}
        #: root task -> host -> (task run id, when the host finished): for links and events
        self.finished: dict[str, dict[str, tuple[str, str]]] = {}
        self._batches: dict[int, list[Any]] = {}
        self._index: dict[str, int] = {}
        self._sizes: dict[int, int] = {}

    def begin_root(self, recorder: HostRunRecorder, task: TaskDefinition, host_ids: Sequence[str]) -> None:
        self.recorder = recorder
        self._by_task[task.name] = recorder
        self.finished[task.name] = {}
        self._batches = {}
        if self.mode == "batch":
            self._index = {h: i // self.batch_size for i, h in enumerate(host_ids)}
            self._sizes = {}
            for b in self._index.values():
                self._sizes[b] = self._sizes.get(b, 0) + 1
            self._lock = threading.Lock()

    def host_started(self, task: TaskDefinition, host: Host) -> Any:
        # A runner scheduling the whole task list (run_tasks) interleaves root tasks: each
        # host execution goes to its own root task's subflow.
        recorder = self._by_task.get(task.name, self.recorder)
        if recorder is None:
            return None
        if self.mode != "batch":
            limits = self.locks.names_for(host) if self.locks is not None else []
            run = recorder.start(
                host_run_name(task.name, host.id),
                task_key=host_task_key(task.name),
                tags=host_tags(host),
                awaiting_slot=bool(limits),
            )
            return (recorder, run, host.id, limits)
        batch = self._index.get(host.id, -1)
        with self._lock:
            entry = self._batches.get(batch)
            if entry is None:
                first = batch * self.batch_size + 1
                last = first + self._sizes.get(batch, 1) - 1
                run = recorder.start(
                    batch_run_name(task.name, batch + 1, first, last),
                    task_key=batch_task_key(task.name),
                    tags=[f"batch:{batch + 1}"],
                )
                entry = self._batches[batch] = [run, 0, 0]  # run, done, failed
        recorder.logger(entry[0]).debug("host %s started", host.id)
        return (recorder, batch, host.id, [])

    @contextmanager
    def host_context(self, token: Any) -> Iterator[None]:
        """Around a host's work: its concurrency slots, then (per-host mode) its task run's
        context, so ``prefect.get_run_logger()`` logs to that run."""
        if token is None or self.mode == "batch":
            yield
            return
        recorder, run, _, limits = token
        with ExitStack() as stack:
            if limits:
                stack.enter_context(HostLocks.hold(limits, run.id))
                recorder.running(run)
            stack.enter_context(recorder.context(run))
            yield

    def _run_of(self, token: Any) -> tuple[HostRunRecorder, HostRun]:
        recorder, key, _, _ = token
        return recorder, (key if self.mode != "batch" else self._batches[key][0])

    def host_log(self, token: Any, level: int, message: str) -> None:
        """A note about the host (a connection retry) on its task run, prefixed with its id."""
        if token is None:
            return
        recorder, run = self._run_of(token)
        recorder.logger(run).log(level, "%s: %s", token[2], message)

    def host_finished(self, token: Any, task: TaskDefinition, host: Host, result: AnyHostResult) -> None:
        if token is None:
            return
        recorder, key, _, _ = token
        failed = result.status == "failed"
        if self.mode != "batch":
            message = host_state_message(result)
            if failed:
                recorder.logger(key).error("%s", host_failure_line(host.id, result))
            skipped = result.status == "skipped"
            cancelled = skipped and result.reason == "cancelled"  # type: ignore[union-attr]
            recorder.finish(
                key,
                ok=not failed,
                message=message,
                cancelled=cancelled,
                state_name=SKIPPED_STATE_NAME if skipped and not cancelled else None,
                run_count=_attempts(result),
                started_at=result.started_at,
                finished_at=result.finished_at,
            )
            self.finished[task.name][host.id] = (str(key.id), datetime.now(UTC).isoformat())
            return
        with self._lock:
            entry = self._batches[key]
            entry[1] += 1
            entry[2] += int(failed)
            complete = entry[1] == self._sizes.get(key, 0)
        if failed:
            recorder.logger(entry[0]).error("%s", host_failure_line(host.id, result))
        self.finished[task.name][host.id] = (str(entry[0].id), datetime.now(UTC).isoformat())
        if complete:
            done, nfailed = entry[1], entry[2]
            recorder.finish(
                entry[0],
                ok=nfailed < done,
                message=f"{done} hosts, {nfailed} failed",
            )


def _attempts(result: AnyHostResult) -> int:
    """How many times the host was tried: task retries, or connection-open attempts."""
    attempts = getattr(result, "attempts", None) or 1
    details = getattr(result, "details", None) or {}
    opened = details.get("attempts") if isinstance(details, dict) else None
    return max(int(attempts), int(opened) if isinstance(opened, int) else 1)


def _run_outcome(results: RunResults, policy: FailPolicy) -> Outcome:
    """The run's verdict: hosts that failed in any root task, against the hosts that ran."""
    hosts: dict[str, None] = {}
    failed: dict[str, None] = {}
    for tree in results:
        hosts.update(dict.fromkeys(tree.hosts))
        failed.update(dict.fromkeys(tree.failed_hosts))
    return policy.judge(len(hosts), list(failed))


def _final_state(results: RunResults, policy: FailPolicy) -> Any:
    from prefect.states import Completed, Failed

    outcome = _run_outcome(results, policy)
    message = f"{len(results)} root task(s): {outcome.message}"
    if outcome.failed:
        return Failed(message=message, data=results)
    return Completed(message=message, data=results)


def job_state(tree: Any, results: RunResults | TaskResults, fail_on: str) -> Any:
    """What a ready-made job's flow returns: its result tree, or -- when ``fail_on`` says the
    run failed -- a Failed state (red in the UI, notifications fire) carrying the tree.

    Called from Python the flow then raises :class:`~genja_prefect.outcome.HostsFailedError`
    whose ``tree`` is the same result tree; with ``return_state=True``,
    ``state.result(raise_on_failure=False)`` is that error.
    """
    runs = RunResults([results]) if isinstance(results, TaskResults) else results
    outcome = _run_outcome(runs, FailPolicy.parse(fail_on))
    if not outcome.failed:
        return tree
    from prefect.context import FlowRunContext
    from prefect.states import Failed

    if FlowRunContext.get() is None:
        return tree  # the flow's function called as a plain function: no run to fail
    return Failed(message=outcome.message, data=HostsFailedError(outcome.message, tree))


def _host_event(
    name: str, task_name: str, host: Host, result: AnyHostResult, task_run_id: str, occurred: str, related: list[dict[str, str]]
) -> dict[str, Any]:
    payload: dict[str, Any] = {"task": task_name, "status": result.status}
    if result.status == "failed":
        payload.update(kind=result.kind.value, message=result.message)  # type: ignore[union-attr]
    diff = getattr(result, "diff", None)
    if diff:
        lines = str(diff).splitlines()
        payload.update(
            lines_added=sum(1 for x in lines if x.startswith("+") and not x.startswith("+++")),
            lines_removed=sum(1 for x in lines if x.startswith("-") and not x.startswith("---")),
        )
    return {
        "id": str(uuid.uuid4()),
        "occurred": occurred,
        "event": name,
        "resource": {
            "prefect.resource.id": f"genja.host.{host.id}",
            "prefect.resource.name": host.id,
            "genja.host.id": host.id,
            "genja.platform": host.platform or "",
            "genja.groups": ",".join(host.groups),
            # "true" when the host reported what changed (a config diff): a first backup
            # changes files, not the device, and has none. Automations can match on it.
            "genja.diff": "true" if diff else "false",
        },
        "related": [
            *related,
            {"prefect.resource.id": f"prefect.task-run.{task_run_id}", "prefect.resource.role": "task-run"},
        ],
        "payload": payload,
    }


class _SubflowRoot:
    """A root task in its pre-created subflow run: Running when opened, then final."""

    def __init__(
        self,
        sub: RootSubflow,
        runtime: "Genja",
        task: TaskDefinition,
        host_ids: Sequence[str],
        hooks: PrefectHooks,
        flow_name: str,
    ) -> None:
        self.sub, self.task, self.hooks, self.runtime = sub, task, hooks, runtime
        self.config = runtime.settings.prefect
        sub.start()
        # Running -> Completed/Failed only: a Pending state per host would add a third to what
        # the server must ingest, for no information (the host starts the moment it is recorded).
        # Coalesced: a host done before its Running event was sent is recorded with one event.
        self.recorder = HostRunRecorder(
            sub.id,
            flow_run_name=sub.run_name,
            flow_id=sub.flow_id,
            flow_name=flow_name,
            record_pending=False,
            coalesce=True,
            tag_resources=self.config.tag_events,
        )
        self.related = [
            {"prefect.resource.id": f"prefect.flow-run.{sub.id}", "prefect.resource.role": "flow-run", "prefect.resource.name": sub.run_name},
            {"prefect.resource.id": f"prefect.flow-run.{sub.parent_flow_run_id}", "prefect.resource.role": "parent-flow-run"},
            {"prefect.resource.id": f"prefect.flow.{sub.flow_id}", "prefect.resource.role": "flow", "prefect.resource.name": flow_name},
        ]
        hooks.begin_root(self.recorder, task, host_ids)

    def fail(self, exc: BaseException) -> None:
        # Ctrl-C, or Prefect cancelling the run (SIGTERM turned into an exception): what is
        # still running is cancelled, not failed; an error in the engine fails the subflow.
        interrupted = not isinstance(exc, Exception)
        why = "the run was cancelled" if interrupted else f"the root task raised {type(exc).__name__}"
        self.recorder.close(message=f"{why} before this host finished", timeout=0, cancelled=interrupted)
        self.hooks.last_recorder = self.recorder
        if interrupted:
            self.sub.cancel(message=f"{why} while hosts were running")

    def complete(self, results: TaskResults) -> None:
        # Hand over what is left without waiting: the next root task starts at once, and the
        # run waits for delivery once, at its end (see run_with_prefect).
        self.recorder.close(message="the run stopped before this host finished", timeout=0)
        self.hooks.last_recorder = self.recorder
        finished = self.hooks.finished.get(self.task.name, {})
        if self.config.artifacts:
            runs = {h: run_id for h, (run_id, _) in finished.items()} if self.hooks.mode != "batch" else None
            artifacts.publish(self.task, results, self.sub.create_artifact, runs)
            # The summary on the job's own flow run too: where people look first.
            self.sub.create_parent_artifact(
                "markdown", artifacts.summary_markdown(self.task.name, results), f"Summary of {self.task.name}"
            )
            self._host_artifacts(results, finished)
        self._events(results, finished)
        outcome = FailPolicy.parse(self.config.fail_on).judge(len(results.hosts), results.failed_hosts)
        self.sub.finish(ok=not outcome.failed, message=f"{outcome.message} ({results.host_summary()})")

    def _host_artifacts(self, results: TaskResults, finished: dict[str, tuple[str, str]]) -> None:
        setting = self.config.host_artifacts
        if setting == "none" or self.hooks.mode == "batch":
            return
        made = 0
        for host_id, result in results.hosts.items():
            if made >= HOST_ARTIFACT_LIMIT:
                logger.info("per-host artifacts: the first %d made, the rest left out", made)
                break
            if host_id in finished and artifacts.wants_host_artifact(setting, result):
                self.sub.create_artifact(
                    None,
                    "markdown",
                    artifacts.host_markdown(host_id, result),
                    f"{self.task.name} on {host_id}",
                    task_run_id=finished[host_id][0],
                )
                made += 1

    def _events(self, results: TaskResults, finished: dict[str, tuple[str, str]]) -> None:
        views = self.runtime.host_views()
        events = []
        for host_id, result in results.hosts.items():
            if host_id not in finished:
                continue
            run_id, occurred = finished[host_id]
            host = views[host_id]
            if result.status == "failed":
                events.append(_host_event("genja.host.failed", self.task.name, host, result, run_id, occurred, self.related))
            if getattr(result, "changed", False):
                events.append(_host_event("genja.host.changed", self.task.name, host, result, run_id, occurred, self.related))
        for start in range(0, len(events), 500):
            self.sub.emit(events[start : start + 500])


#: Per-host artifacts made per root task at most (a run where thousands of hosts fail gets
#: the first ones; the table artifact still lists every host).
HOST_ARTIFACT_LIMIT = 200


def _status_counts(trees: Sequence[TaskResults]) -> dict[str, int]:
    """Host results per status (``passed``, ``failed``, ``skipped``) over the root tasks ``trees``."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for tree in trees:
        for result in tree.hosts.values():
            counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def _run_finished_event(
    flow_run_id: Any, flow_id: Any, flow_name: str, run_label: str, results: RunResults, policy: FailPolicy
) -> dict[str, Any]:
    outcome = _run_outcome(results, policy)
    counts = _status_counts(results)
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "genja.run.finished",
        "resource": {
            "prefect.resource.id": f"genja.run.{flow_run_id}",
            "prefect.resource.name": run_label,
            "genja.outcome": "failed" if outcome.failed else "passed",
        },
        "related": [
            {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run", "prefect.resource.name": run_label},
            {"prefect.resource.id": f"prefect.flow.{flow_id}", "prefect.resource.role": "flow", "prefect.resource.name": flow_name},
        ],
        "payload": {"root_tasks": [t.task_name for t in results], **counts, "message": outcome.message},
    }


def run_summary_logs(flow_run_id: str, results: RunResults, outcome: Outcome) -> list[dict[str, Any]]:
    """The run's flow run's log lines (its Logs tab in the UI; otherwise empty: host lines are on
    the subflows): per root task ``collect_facts: 5 passed, 1 failed, 0 skipped of 6 hosts``,
    each failed host's line as on its task run (the first ``NAMED_HOSTS``), then the verdict."""
    now = datetime.now(UTC).isoformat()

    def line(level: int, message: str) -> dict[str, Any]:
        return {"name": "genja_prefect.run", "level": level, "message": message, "timestamp": now,
                "flow_run_id": flow_run_id, "task_run_id": None}

    lines = []
    named = 0
    for tree in results:
        counts = _status_counts([tree])
        lines.append(line(logging.INFO, f"{tree.task_name}: {counts['passed']} passed, {counts['failed']} failed, "
                                        f"{counts['skipped']} skipped of {len(tree.hosts)} hosts"))
        for host_id in tree.failed_hosts[: max(NAMED_HOSTS - named, 0)]:
            lines.append(line(logging.ERROR, f"{tree.task_name}: {host_failure_line(host_id, tree.hosts[host_id])}"))
            named += 1
    failed_any = bool(results.failed_hosts)
    level = logging.ERROR if outcome.failed else logging.WARNING if failed_any else logging.INFO
    lines.append(line(level, f"run {'failed' if outcome.failed else 'passed'}: {outcome.message}"))
    return lines


def _run_root_subflow(
    sub: RootSubflow,
    runtime: "Genja",
    task: TaskDefinition,
    host_ids: Sequence[str],
    hooks: PrefectHooks,
    flow_name: str,
    run_root: Callable[[], TaskResults],
) -> TaskResults:
    """Run a root task in its pre-created subflow run."""
    root = _SubflowRoot(sub, runtime, task, host_ids, hooks, flow_name)
    try:
        results = run_root()
    except BaseException as exc:
        root.fail(exc)
        raise
    root.complete(results)
    return results


def _host_run_mode(runtime: "Genja") -> str:
    config = runtime.settings.prefect
    if config.host_runs != "auto":
        return config.host_runs
    return "batch" if runtime.host_count() > config.batch_threshold else "per_host"


def _wait_for_the_record(record: RunRecord, runtime: "Genja") -> None:
    """At the end of a run: its record delivered -- and on a server of the user's, the task
    runs written, so nothing shows Running once the call has returned -- or, when Prefect
    fails or stalls, the rest spooled and one WARNING (see record.RunRecord.close)."""
    config = runtime.settings.prefect
    # A server of the user's outlives this process: the call returns once it has written the
    # task runs (batched, within ~1 s). The temporary server is waited for at exit.
    warning = record.close_and_confirm(stall_timeout=config.record_timeout_s, total_timeout=config.flush_timeout_s)
    if warning:
        logger.warning("%s", warning)


def _open_record(runtime: "Genja", label: str) -> RunRecord:
    """The record this run goes into: the current flow run's, the CLI job's, or a new flow run."""
    config = runtime.settings.prefect
    job = current_job_record()
    ctx = None
    if job is None and "prefect.context" in sys.modules:  # never imported: no flow run is running
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        name = ctx.flow.name if ctx.flow is not None else config.flow_name
        record = RunRecord(name, "", parent_flow_run_id=str(ctx.flow_run.id), parent_flow_id=str(ctx.flow_run.flow_id))
        if runtime.run_parameters.get("job") and ctx.flow_run.name != label:
            # A ready-made job's flow run (also a deployment's): named after the job and its
            # selection once the selection is known.
            record.post(f"/flow_runs/{ctx.flow_run.id}", {"name": label}, method="PATCH")
        return record
    if job is not None:
        record = RunRecord(job.flow_name, "", parent_flow_run_id=job.flow_run_id, parent_flow_id=job.flow_id, parent=job)
        record.post(f"/flow_runs/{job.flow_run_id}", {"name": label}, method="PATCH")
        return record
    start_server(config.server_start_timeout_s)
    return RunRecord(config.flow_name, label, {"invocation": runtime.run_parameters or None})


def _host_locks(runtime: "Genja", host_ids: Sequence[str]) -> HostLocks | None:
    """The Prefect concurrency limits hosts must hold, read from the server -- unless it is
    this process's temporary server still starting (its limits cannot be read yet, and host
    work does not wait for it)."""
    import httpx

    from genja_prefect.prefect import api
    from genja_prefect.prefect.temporary_server import TemporaryServer

    server = TemporaryServer.current()
    if server is not None and not server.ready and not api_url_configured():
        why = "the temporary Prefect server is still starting"
    else:
        # One quick look (2 s): Prefect's client would retry an unreachable server for seconds.
        with api.client(timeout=2.0) as client:
            try:
                existing = limit_names(client)
            except httpx.HTTPError as exc:
                why = f"Prefect is unreachable ({type(exc).__name__})"
            else:
                client.timeout = httpx.Timeout(5.0)
                views = runtime.host_views()
                return HostLocks.for_run(
                    client, [views[h] for h in host_ids], runtime.settings.prefect.device_lock, existing
                )
    # Only worth a WARNING when device locks were asked for: the run's one WARNING about an
    # unreachable Prefect comes at its end, with what was not recorded.
    level = logging.WARNING if runtime.settings.prefect.device_lock else logging.DEBUG
    logger.log(level, "%s: concurrency limits and device locks are not held in this run", why)
    return None


def run_with_prefect(runtime: "Genja", tasks: Sequence[TaskDefinition], max_depth: int) -> RunResults:
    """Run root tasks as a Prefect flow run (or inside the current one).

    Host work starts at once and never depends on Prefect: the flow run, subflows and host
    task runs are a :class:`~genja_prefect.prefect.record.RunRecord` posted in the background
    (the temporary server, if this process needs one, starts meanwhile); the run waits at its
    end only while Prefect makes progress (``prefect.record_timeout_s`` once it fails), then
    spools the rest and returns the results with one WARNING.
    """
    config = runtime.settings.prefect
    if config.task_runner == "dask":
        return _run_on_dask(runtime, tasks, max_depth)
    if config.tune_ephemeral_server:
        tune_ephemeral_server()
    hooks = PrefectHooks(_host_run_mode(runtime), config.batch_size)
    host_ids = runtime.host_ids()
    policy = FailPolicy.parse(config.fail_on)
    # Named after the job and its selection: "collect_facts platform=ios (12 hosts)".
    label = run_name(
        str(runtime.run_parameters.get("job") or job_name([t.name for t in tasks])), runtime.selection, len(host_ids)
    )
    record = _open_record(runtime, label)
    if hooks.mode != "batch":
        hooks.locks = _host_locks(runtime, host_ids)
    plan = SubflowPlan(record, [t.name for t in tasks], lambda n: subflow_run_name(n, len(host_ids)))
    pending = list(plan.subflows)  # consumed in root order
    flow_name = record.flow_name

    def root_wrapper(task: TaskDefinition, run_root: Callable[[], TaskResults]) -> TaskResults:
        return _run_root_subflow(pending.pop(0), runtime, task, host_ids, hooks, flow_name, run_root)

    def roots_wrapper(
        roots: Sequence[TaskDefinition], run_roots: Callable[[], list[TaskResults]]
    ) -> list[TaskResults]:
        # A runner scheduling the whole task list itself: every root task's subflow is open
        # while it runs, and each host execution is recorded in its own root task's subflow.
        opened = [_SubflowRoot(pending.pop(0), runtime, task, host_ids, hooks, flow_name) for task in roots]
        try:
            out = run_roots()
        except BaseException as exc:
            for root in opened:
                root.fail(exc)
            raise
        for root, results in zip(opened, out):
            root.complete(results)
        return out

    try:
        results = run_plain(runtime, tasks, max_depth, hooks=hooks, root_wrapper=root_wrapper, roots_wrapper=roots_wrapper)
    except BaseException as exc:
        # The job itself raised (a custom runner's bug, Ctrl-C): the caller gets that
        # exception; the record says so.
        plan.close()
        record.finish("FAILED" if isinstance(exc, Exception) else "CRASHED", f"{type(exc).__name__}: {exc}"[:500])
        _wait_for_the_record(record, runtime)
        raise
    plan.close()
    plan.emit([_run_finished_event(record.flow_run_id, record.flow_id, flow_name, label, results, policy)])
    outcome = _run_outcome(results, policy)
    verdict = ("FAILED" if outcome.failed else "COMPLETED", f"{len(results)} root task(s): {outcome.message}")
    record.post("/logs/", run_summary_logs(record.flow_run_id, results, outcome))
    record.finish(*verdict)
    if record.parent is not None:
        record.parent.verdict = verdict  # the CLI job's flow run ends the same way
    _wait_for_the_record(record, runtime)
    return results


def _run_on_dask(runtime: "Genja", tasks: Sequence[TaskDefinition], max_depth: int) -> RunResults:
    """``task_runner: dask``: hosts are Prefect task runs on Dask workers, so this path runs
    Prefect's own flow engine and needs a server the workers can reach (a temporary one is
    started first when none is configured; see temporary_server.require_server_for_dask)."""
    from prefect import flow
    from prefect.context import FlowRunContext

    config = runtime.settings.prefect
    if config.tune_ephemeral_server:
        tune_ephemeral_server()
    require_server_for_dask(config.server_start_timeout_s, config.dask_address)
    host_ids = runtime.host_ids()
    policy = FailPolicy.parse(config.fail_on)
    label = run_name(
        str(runtime.run_parameters.get("job") or job_name([t.name for t in tasks])), runtime.selection, len(host_ids)
    )

    dask: Any = None  # a DaskRun while the job runs with task_runner: dask

    def root_wrapper(task: TaskDefinition, run_root: Callable[[], TaskResults]) -> TaskResults:
        def subflow_body() -> TaskResults:
            # The engine's root task (processors, then the ``dask`` runner plugin submitting
            # each host as a Prefect task run to this subflow's DaskTaskRunner).
            results = run_root()
            if config.artifacts:
                artifacts.publish(task, results, artifacts.create_in_current_run)
            return results

        from prefect_dask.task_runners import DaskTaskRunner

        options: dict[str, Any] = {"task_runner": DaskTaskRunner(address=dask.address)}
        token = uuid.uuid4().hex
        _ACTIVE[token] = subflow_body

        def root_task_subflow() -> TaskResults:
            # Captures only a string: Prefect serializes the flow (with its closure) into
            # the context it ships to Dask workers, and the run's objects do not pickle.
            return _enter(token)

        subflow = flow(
            name=flow_name(),  # the job's own flow: one flow per job in the UI
            flow_run_name=subflow_run_name(task.name, len(host_ids)),
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

    def flow_name() -> str:
        ctx = FlowRunContext.get()
        return ctx.flow.name if ctx is not None and ctx.flow is not None else config.flow_name

    def run_all() -> RunResults:
        nonlocal dask
        from genja_prefect.prefect.dask import DaskRun, dask_cluster

        on_dask = runtime.with_runner("dask")
        with dask_cluster(runtime, len(host_ids)) as address:
            dask = DaskRun(address, runtime, tasks, max_depth)
            try:
                with dask.active():
                    return run_plain(on_dask, tasks, max_depth, hooks=None, root_wrapper=root_wrapper)
            finally:
                for text in dask.close():
                    logger.warning(text)
                dask = None

    def job(invocation: dict[str, Any] | None = None) -> Any:
        return _final_state(run_all(), policy)

    if FlowRunContext.get() is not None:
        return run_all()

    outer = flow(
        name=config.flow_name,
        flow_run_name=label,
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

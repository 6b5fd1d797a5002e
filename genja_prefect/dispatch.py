"""Scheduling one root task's host executions: the threaded and serial strategies.

Threaded: ``workers`` threads pull the next host from the selected list as soon as they are
free, so at most ``workers`` host executions are in flight and the next host starts the
moment one ends. Serial: one host at a time, in selection order, in the calling thread.
Each worker thread runs in a copy of the caller's ``contextvars`` context, so Prefect's run
context (and per-host logging) follows the work.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator, Sequence

from genja_prefect.definition import TaskDefinition
from genja_prefect.execution import ExecutionEnv, failure_from_exception, run_host
from genja_prefect.results import TaskResults

#: After a cancel or Ctrl-C, how long hosts already in flight may take to finish before the
#: run ends without them (below Prefect's 30 s between SIGTERM and SIGKILL for a cancelled run).
CANCEL_GRACE_S = 20.0


def _run_one(env: ExecutionEnv, task: TaskDefinition, host_id: str) -> TaskResults:
    try:
        tree = run_host(env, task, env.host(host_id))
    except Exception as exc:  # noqa: BLE001 - an engine bug must still leave one result per host
        tree = TaskResults(task.name)
        tree.hosts[host_id] = failure_from_exception(exc)
    if env.close_after_host:
        # The host's last root task of the run is done: free its sessions now rather than
        # holding every session of the inventory open until the run ends.
        try:
            close_errors = env.resolver.close_host(host_id)
        except Exception as exc:  # noqa: BLE001 - closing must never cost a host its result
            close_errors = [f"closing the connections of '{host_id}' failed: {type(exc).__name__}: {exc}"]
        for text in close_errors:
            result = tree.hosts.get(host_id)
            if result is not None:
                result.warnings.append(text)
    return tree


def run_serial(env: ExecutionEnv, task: TaskDefinition, host_ids: Sequence[str]) -> TaskResults:
    """Run hosts one at a time in the given order."""
    results = TaskResults(task.name)
    for host_id in host_ids:
        results.merge(_run_one(env, task, host_id))
    return results


def run_threaded(
    env: ExecutionEnv, task: TaskDefinition, host_ids: Sequence[str], workers: int
) -> TaskResults:
    """Run hosts on ``workers`` threads (clamped to 1..len(host_ids))."""
    workers = max(1, min(workers, len(host_ids)))
    if workers == 1 or len(host_ids) <= 1:
        return run_serial(env, task, host_ids)
    pending: Iterator[str] = iter(host_ids)
    take = threading.Lock()
    trees: list[TaskResults] = []

    def work() -> None:
        done: list[TaskResults] = []
        while True:
            with take:
                host_id = next(pending, None)
            if host_id is None:
                break
            done.append(_run_one(env, task, host_id))
        trees.extend(done)  # list.extend is atomic under the GIL

    # Each thread says when it is done: on Python 3.11 a Thread.join() interrupted by an
    # exception from a signal handler (Ctrl-C, Prefect's SIGTERM on cancel) marks the thread
    # stopped although it still runs (CPython issue 90882), so joining again would return
    # at once and lose the host still in flight.
    finished = [threading.Event() for _ in range(workers)]

    def run_worker(done: threading.Event) -> None:
        try:
            work()
        finally:
            done.set()

    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(run_worker, done),
            name=f"genja-{task.name}-{i}",
            daemon=True,
        )
        for i, done in enumerate(finished)
    ]
    started: list[threading.Event] = []
    try:
        for thread, done in zip(threads, finished):
            thread.start()
            started.append(done)
        for done in finished:
            done.wait()
    except BaseException:
        # Ctrl-C / cancellation: hosts not started yet end as "skipped: cancelled"; the hosts
        # in flight get CANCEL_GRACE_S to finish (a thread cannot be killed; Prefect kills a
        # cancelled run's process 30 s after asking), then the caller closes the connections
        # and marks what is still running cancelled.
        env.cancelled.set()
        deadline = time.monotonic() + CANCEL_GRACE_S
        for done in started:
            done.wait(max(0.0, deadline - time.monotonic()))
        raise
    results = TaskResults(task.name)
    for tree in trees:
        results.merge(tree)
    return results

"""Scheduling one root task's hosts: the threaded and serial strategies of the built-in runners.

Threaded: ``workers`` threads pull the next host from the list as soon as they are free, so at
most ``workers`` host executions are in flight and the next host starts the moment one ends.
Serial: one host at a time, in list order, in the calling thread. Each worker thread runs in a
copy of the caller's ``contextvars`` context, so the run's environment (and the orchestrator's
per-host logging) follows the work.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from genja_prefect.results import TaskResults

#: After a cancel or Ctrl-C, how long hosts already in flight may take to finish before the
#: run ends without them (below Prefect's 30 s between SIGTERM and SIGKILL for a cancelled run).
CANCEL_GRACE_S = 20.0

H = TypeVar("H")


def run_serial(task_name: str, hosts: Sequence[H], run_one: Callable[[H], TaskResults]) -> TaskResults:
    """Run ``run_one`` on each host in order; the merged result tree."""
    results = TaskResults(task_name)
    for host in hosts:
        results.merge(run_one(host))
    return results


def run_threaded(
    task_name: str,
    hosts: Sequence[H],
    run_one: Callable[[H], TaskResults],
    workers: int,
    cancelled: threading.Event,
) -> TaskResults:
    """Run ``run_one`` on each host on ``workers`` threads (clamped to 1..len(hosts)).

    On Ctrl-C or a cancel (an exception in the calling thread) ``cancelled`` is set -- hosts
    not yet started then end as skipped -- and hosts in flight get :data:`CANCEL_GRACE_S`.
    """
    workers = max(1, min(workers, len(hosts)))
    if workers == 1 or len(hosts) <= 1:
        return run_serial(task_name, hosts, run_one)
    pending: Iterator[H] = iter(hosts)
    take = threading.Lock()
    trees: list[TaskResults] = []
    sentinel = object()

    def work() -> None:
        done: list[TaskResults] = []
        while True:
            with take:
                host = next(pending, sentinel)
            if host is sentinel:
                break
            done.append(run_one(host))  # type: ignore[arg-type]
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
            name=f"genja-{task_name}-{i}",
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
        cancelled.set()
        deadline = time.monotonic() + CANCEL_GRACE_S
        for done in started:
            done.wait(max(0.0, deadline - time.monotonic()))
        raise
    results = TaskResults(task_name)
    for tree in trees:
        results.merge(tree)
    return results

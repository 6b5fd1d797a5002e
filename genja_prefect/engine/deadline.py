"""The whole-host deadline: ``runner.host_timeout_s`` (or a root task's ``host_timeout_s`` option).

A root task's execution on one host (its sub-tasks included) gets at most that many seconds.
The host's work runs in a helper thread while the runner's worker waits for it; when the
deadline passes:

- the host ends ``failed`` with kind ``timeout`` (retryable), recorded and reported like any
  other result;
- its connections are closed (a session blocked in I/O usually fails at once then);
- the worker is freed for the next host at once;
- an ``async`` task body is cancelled (``asyncio.CancelledError`` inside it);
- a sync task body cannot be interrupted -- Python cannot kill a thread -- so its helper
  thread is abandoned: it runs on until its code returns or fails (a closed connection
  usually makes that quick), and its late result is discarded.

Example (settings.yaml)::

    runner:
      host_timeout_s: 120
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["DeadlineScope", "current_scope", "run_with_deadline"]

_T = TypeVar("_T")


class DeadlineScope:
    """What one host execution has in flight on the async bridge (cancelled at its deadline)."""

    def __init__(self) -> None:
        self.expired = False
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def track(self, future: Future[Any]) -> None:
        """Cancel ``future`` if the deadline passes while it runs (at once if it already has)."""
        with self._lock:
            expired = self.expired
            if not expired:
                self._futures.add(future)
        if expired:
            future.cancel()
        else:
            # outside the lock: a future already done runs the callback at once, in this thread
            future.add_done_callback(self._untrack)

    def _untrack(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            futures = list(self._futures)
        for future in futures:
            future.cancel()


_scope: contextvars.ContextVar[DeadlineScope | None] = contextvars.ContextVar("genja_prefect_deadline", default=None)


def current_scope() -> DeadlineScope | None:
    """The deadline scope of the host execution running in this context, if it has one."""
    return _scope.get()


def run_with_deadline(fn: Callable[[], _T], timeout: float, name: str) -> tuple[bool, _T | None]:
    """Run ``fn`` in a helper thread; ``(True, result)``, or ``(False, None)`` after ``timeout``.

    On timeout the async work ``fn`` awaits through the bridge is cancelled and the thread is
    abandoned (see the module docstring). An exception from ``fn`` is re-raised here.
    """
    scope = DeadlineScope()
    done = threading.Event()
    box: list[Any] = []

    def body() -> None:
        _scope.set(scope)
        try:
            box.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.append((False, exc))
        finally:
            done.set()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(body,), name=name, daemon=True)
    thread.start()
    if not done.wait(timeout):
        scope.expire()
        return False, None
    ok, value = box[0]
    if not ok:
        if isinstance(value, asyncio.CancelledError):
            raise RuntimeError("host execution cancelled") from value
        raise value
    return True, value

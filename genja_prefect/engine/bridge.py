"""Running sync and async code together.

Host executions run in worker threads. Anything ``async`` (a ``start_async`` body, an async
plugin method or processor hook) runs on one event loop per run, in its own thread, so that
async connections opened by one task stay usable by the next task on that host.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from genja_prefect.engine.deadline import current_scope
from genja_prefect.errors import EventLoopError

_T = TypeVar("_T")


class AsyncBridge:
    """A private event loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "genja-prefect-async") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, awaitable: Awaitable[_T]) -> _T:
        """Run an awaitable on the bridge loop and wait for its result from this thread."""
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            raise EventLoopError("internal: blocking on the bridge loop from inside it would deadlock")

        async def _await() -> _T:
            return await awaitable

        future: Future[_T] = asyncio.run_coroutine_threadsafe(_await(), loop)
        scope = current_scope()
        if scope is not None:
            scope.track(future)  # cancelled if the host's deadline passes (engine/deadline.py)
        return future.result()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn``; if it returns an awaitable (an ``async def``), run that on the loop."""
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return self.run(result)
        return result

    def close(self) -> None:
        """Stop the loop and its thread (after cancelling whatever is still pending)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def _shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def ensure_no_running_loop(entry_point: str, async_alternative: str) -> None:
    """Raise a clear error when a sync entry point is called inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise EventLoopError(
        f"{entry_point}() was called from inside a running event loop; "
        f"use `await {async_alternative}(...)` there instead"
    )

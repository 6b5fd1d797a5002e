"""One asyncio event loop running in a background thread, shared by the asyncssh servers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from genja_prefect.lab.errors import LabStartError

T = TypeVar("T")


class LoopThread:
    """An event loop in a daemon thread; :meth:`run` executes a coroutine on it and waits.

    Example::

        loop = LoopThread("sim")
        loop.start()
        port = loop.run(start_server())
        loop.stop()
    """

    def __init__(self, name: str = "genja-lab-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; raises if the thread was not started."""
        if self._loop is None:
            raise LabStartError(f"event loop thread {self.name!r} is not running; call start() first")
        return self._loop

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread and its loop (idempotent)."""
        if self.running:
            return
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def _serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            # Give cancelled tasks one pass to finish their cleanup before closing the loop.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        # daemon=True only as a last resort against a hung interpreter exit; stop() joins it.
        self._thread = threading.Thread(target=_serve, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run ``coro`` on the loop from another thread and return its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call(self, func: Any, *args: Any) -> None:
        """Schedule a plain callable on the loop (thread-safe, does not wait)."""
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and join the thread (idempotent)."""
        if self._loop is None or self._thread is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None

"""Notes about one host's execution that its watcher should see (connection retries, reopens).

The engine logs them to its own logger as usual; while a host runs under an orchestrator
(``HostRunHooks.host_log``), they also go to that host's record -- in Prefect, the host's task
run -- so a retried login is visible where the host's outcome is.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_sink: contextvars.ContextVar[Callable[[int, str], None] | None] = contextvars.ContextVar(
    "genja_prefect_host_log", default=None
)


def note(logger: logging.Logger, level: int, message: str, *args: Any, record_level: int | None = None) -> None:
    """Log ``message % args`` to ``logger`` at ``level`` and to the current host's record, if
    any, at ``record_level`` (default ``level``)."""
    logger.log(level, message, *args)
    sink = _sink.get()
    if sink is not None:
        try:
            sink(record_level if record_level is not None else level, message % args if args else message)
        except Exception:  # noqa: BLE001 - a note must never fail a host
            logger.debug("host log sink failed", exc_info=True)


@contextmanager
def host_notes(sink: Callable[[int, str], None]) -> Iterator[None]:
    """Send :func:`note` calls made in this context (this host's thread) to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)

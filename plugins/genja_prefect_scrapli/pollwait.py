"""A ``poll()``-based replacement for scrapli's synchronous operation wait.

scrapli 2026.10.14's sync ``Cli`` waits for each operation with ``select()`` on a wake-up file
descriptor (``scrapli.helper.wait_for_available_operation_result``). ``select()`` cannot watch
descriptors numbered 1024 or above: it raises ``ValueError: filedescriptor out of range in
select()``. A bin-transport session holds 5 descriptors, so in one process the ~200th open
session fails (measured here: session 205 of 400, against the lab simulator in another
process). genja-prefect keeps a host's session open for the whole run, so a run over more than
~200 SSH hosts would fail for the rest.

:func:`install` swaps the function scrapli's ``cli`` module calls for one with the same
behaviour built on ``poll()``, which has no such limit. It is process-wide (scrapli looks the
function up in its module) and the plugin installs it when it opens its first session, unless
``GENJA_SCRAPLI_SELECT_WAIT=1`` is set in the environment. :func:`uninstall` puts scrapli's
own function back. Nothing is changed if scrapli's module no longer has the function this was
written for (a newer scrapli): the plugin then logs that and leaves scrapli alone.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import Any

import scrapli.cli as scrapli_cli
import scrapli.helper as scrapli_helper
from scrapli.exceptions import CancelledException, OperationException

logger = logging.getLogger("genja_prefect_scrapli")

OPT_OUT_ENV = "GENJA_SCRAPLI_SELECT_WAIT"
_WAKEUP_SIGNAL_SIZE = 4  # scrapli.helper.WAKEUP_FD_SIGNAL_SIZE
_POLL_INTERVAL_MS = 100  # scrapli.helper.WAKEUP_FD_POLL_INTERVAL_S, in ms
_ORIGINAL = getattr(scrapli_helper, "wait_for_available_operation_result", None)
_lock = threading.Lock()


def wait_for_available_operation_result(fd: int, cancel: Any, operation_id_ptr: Any) -> None:
    """scrapli's wait, on ``poll()``: return once ``fd`` signals this operation's id."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if cancel.cancelled:
            raise CancelledException
        if not poller.poll(_POLL_INTERVAL_MS):
            continue
        signal = os.read(fd, _WAKEUP_SIGNAL_SIZE)
        if len(signal) == 0:
            raise OperationException("wakeup signal fd closed")
        if len(signal) != _WAKEUP_SIGNAL_SIZE:
            raise OperationException("wakeup signal read invalid read size")
        operation_id = int.from_bytes(signal, byteorder="little")
        if operation_id == operation_id_ptr.contents.value:
            return
        if operation_id > operation_id_ptr.contents.value:
            raise OperationException(
                "signal received for operation id greater than requested, this should not happen"
            )


def install() -> bool:
    """Use the ``poll()`` wait in scrapli's ``cli`` module; True if it is in use afterwards."""
    with _lock:
        current = getattr(scrapli_cli, "wait_for_available_operation_result", None)
        if current is wait_for_available_operation_result:
            return True
        if current is None or current is not _ORIGINAL:
            logger.warning(
                "scrapli.cli.wait_for_available_operation_result is not the function this plugin "
                "replaces (scrapli changed?): keeping scrapli's select() wait"
            )
            return False
        scrapli_cli.wait_for_available_operation_result = wait_for_available_operation_result  # type: ignore[assignment]
        return True


def uninstall() -> None:
    """Put scrapli's own ``select()`` wait back."""
    with _lock:
        if _ORIGINAL is not None:
            scrapli_cli.wait_for_available_operation_result = _ORIGINAL  # type: ignore[assignment]


def installed() -> bool:
    """Whether scrapli's ``cli`` module uses the ``poll()`` wait now."""
    return getattr(scrapli_cli, "wait_for_available_operation_result", None) is wait_for_available_operation_result


def install_unless_opted_out() -> None:
    """What the plugin calls on open: :func:`install` unless ``GENJA_SCRAPLI_SELECT_WAIT=1``."""
    if os.environ.get(OPT_OUT_ENV, "").strip().lower() in ("1", "true", "yes"):
        return
    if not installed():
        install()

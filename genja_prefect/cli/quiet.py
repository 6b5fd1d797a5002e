"""Quiet by default: what the command line prints at WARNING and above is about your devices.

Device libraries narrate their sessions at WARNING and above (scrapli: one ``enterMode:
prompted input requested`` per IOS host; paramiko/asyncssh: the lab's own SSH servers; fakenos
when the demo runs the devices in-process). What matters of it (authentication failed, a
timeout) is in the host's result already, so their records are hidden unless ``--verbose``,
which shows them at DEBUG (and every other logger at INFO).
"""

from __future__ import annotations

import logging
import os

#: Loggers hidden unless --verbose (children included).
CHATTY_LIBRARIES = ("scrapli", "fakenos", "paramiko", "asyncssh", "ncclient")


def configure(verbose: bool) -> None:
    """Hide device-library chatter, or with ``verbose`` show it at DEBUG and every other logger at INFO."""
    # Prefect's own INFO lines (temporary server started, flow run finished) repeat what the
    # command prints itself; read before Prefect is imported, so set first.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.DEBUG)
        return
    for name in CHATTY_LIBRARIES:
        # A logger's level applies to its children that set none (scrapli.driver, ...);
        # records below it are dropped before any handler sees them.
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)

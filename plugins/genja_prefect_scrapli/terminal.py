"""A controlling terminal for processes that have none, so libscrapli's ptys stay its own.

Why: Prefect's process worker starts each flow run as a new session leader
(``start_new_session=True``), as do systemd services and ``setsid``. When libscrapli's OpenSSH
transport opens its pseudo-terminal in such a process, that pty becomes the process's
controlling terminal: the ssh child then cannot take it (the login fails with "authenticate:
open failed") and closing it sends SIGHUP, which kills the whole process (a flow run ends
with ``Process exited with status code: -1``). The plugin's ``open`` pins a pty of its own,
never closed, as the controlling terminal first.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("genja_prefect_scrapli")

_lock = threading.Lock()

_pinned_terminal: tuple[int, int] | None = None
_checked = False  # this process was looked at once: nothing more to do


def pin_controlling_terminal() -> bool:
    """Give this process a controlling terminal of its own when it is a session leader without one.

    Returns True when a terminal was pinned; does nothing elsewhere (not POSIX, not a session
    leader, a controlling terminal already present, or pinned before). Thread-safe and cheap
    after the first call.
    """
    global _checked
    if os.name != "posix" or _checked:
        return False
    with _lock:
        if _checked:
            return False
        pinned = _pin()
        _checked = True
        return pinned


def _pin() -> bool:
    global _pinned_terminal
    if os.getsid(0) != os.getpid():
        return False
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return False  # a controlling terminal is there already
    except OSError:
        pass
    import fcntl
    import termios

    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    except OSError as exc:
        os.close(master)
        os.close(slave)
        logger.debug("could not pin a controlling terminal: %s", exc)
        return False
    _pinned_terminal = (master, slave)
    logger.debug("session leader without a terminal: pinned pty %s as controlling terminal", os.ttyname(slave))
    return True

"""Errors raised by the loopback device lab."""

from __future__ import annotations

from genja_prefect.errors import GenjaError


class LabError(GenjaError):
    """Something in the lab could not be started, reached or stopped.

    The message names the device or directory involved and, where it helps, what to do.
    """


class LabStartError(LabError):
    """A lab endpoint (device, server, background lab) did not come up."""


class LabStateError(LabError):
    """A background lab's state file is missing, unreadable or names a dead process."""

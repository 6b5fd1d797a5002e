"""The command line's own error: a usage problem, reported as one line plus a hint."""

from __future__ import annotations

from genja_prefect.errors import GenjaError


class CliError(GenjaError):
    """A usage problem, reported as one line plus a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

"""Capabilities of SSH CLI connections, as small protocols any CLI plugin may declare.

A task that needs a capability names it (``@task(capabilities=[CliConfig])``); plugin
resolution then prefers plugins that declare it, and a method the resolved connection lacks
raises ``NotImplementedForThisPlatform`` when called. Example::

    from genja_prefect.task import task
    from genja_prefect_scrapli.capabilities import CliConfig

    @task(name="set_ntp", connection_type="ssh", capabilities=[CliConfig], fallback_to_default=True)
    class SetNtp:
        def start(self, task, host, context):
            output = context.connection().send_config(["ntp server 192.0.2.1"])
            ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class CliCommands(Protocol):
    """Run operational commands and read the prompt."""

    def execute_command(self, command: str) -> str:
        """Run one command at the platform's default mode; return its output."""
        ...

    def send_commands(self, commands: Sequence[str]) -> list[str]:
        """Run several commands in order; return one output per command."""
        ...

    def get_prompt(self) -> str:
        """The device's current prompt."""
        ...


@runtime_checkable
class CliConfig(Protocol):
    """Apply configuration lines in the device's configuration mode."""

    def send_config(self, lines: Sequence[str] | str) -> str:
        """Send configuration lines in configuration mode; return the combined output."""
        ...


__all__ = ["CliCommands", "CliConfig"]

"""Capabilities of NETCONF connections, as small protocols any NETCONF plugin may declare.

Example::

    from genja_prefect.task import task
    from genja_prefect_ncclient.capabilities import NetconfCandidate, NetconfEdit

    @task(name="deploy", connection_type="netconf", capabilities=[NetconfEdit, NetconfCandidate])
    class Deploy:
        ...
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class NetconfGet(Protocol):
    """Read state and configuration; replies are XML text (the ``<data>`` element)."""

    def get(self, filter: Any = None) -> str:  # noqa: A002 - NETCONF's own parameter name
        """``<get>``: configuration and state data."""
        ...

    def get_config(self, source: str = "running", filter: Any = None) -> str:  # noqa: A002
        """``<get-config>`` of one datastore."""
        ...


@runtime_checkable
class NetconfEdit(Protocol):
    """Change a datastore, with locks."""

    def edit_config(
        self, config: Any, target: str = "running", default_operation: str | None = None, error_option: str | None = None
    ) -> str:
        """``<edit-config>``; returns the ``<rpc-reply>`` XML."""
        ...

    def lock(self, target: str = "running") -> str:
        """``<lock>`` a datastore."""
        ...

    def unlock(self, target: str = "running") -> str:
        """``<unlock>`` a datastore."""
        ...


@runtime_checkable
class NetconfCandidate(Protocol):
    """The ``:candidate`` capability: commit or discard the candidate datastore."""

    def commit(self) -> str:
        """``<commit>`` the candidate to running."""
        ...

    def discard_changes(self) -> str:
        """``<discard-changes>``: reset the candidate to running."""
        ...


__all__ = ["NetconfCandidate", "NetconfEdit", "NetconfGet"]

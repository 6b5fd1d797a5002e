"""Capabilities of RESTCONF connections, as a small protocol any RESTCONF plugin may declare."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RestconfData(Protocol):
    """Read and write ``/restconf/data`` resources as JSON (RFC 8040)."""

    def get(self, path: str) -> Any:
        """GET a resource; returns the decoded JSON body."""
        ...

    def put(self, path: str, data: Any) -> int:
        """PUT (create or replace) a resource; returns the HTTP status (201 or 204)."""
        ...

    def patch(self, path: str, data: Any) -> int:
        """PATCH (merge into) a resource; returns the HTTP status."""
        ...

    def delete(self, path: str) -> int:
        """DELETE a resource; returns the HTTP status."""
        ...


__all__ = ["RestconfData"]

"""Transform-function plugins: change each host as the inventory is loaded.

Two forms work, selected by ``settings.inventory.transform_function``:

- a function ``fn(host, **options)`` that changes a host (its ``HostConfig``) in place,
  registered with ``PluginManager.register_plugin(fn, kind="transform", name=...)`` or named
  as ``"module:function"``;
- a genja-py transform plugin (:class:`TransformFunctionPluginProtocol`): an object with
  ``name()``, ``group()`` (``"TransformFunctionPlugin"``) and
  ``transform_host(host, options)`` returning the changed host as a dict, registered with
  ``PluginManager.register_plugin(plugin)``.

Example::

    class HostnameSuffix:
        def name(self) -> str:
            return "hostname_suffix"

        def group(self) -> str:
            return "TransformFunctionPlugin"

        def transform_host(self, host, options):
            return {**host, "hostname": f"{host['hostname']}{options['suffix']}"}
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

__all__ = ["TransformFunctionPluginProtocol"]


@runtime_checkable
class TransformFunctionPluginProtocol(Protocol):
    """genja-py's structural contract of a transform plugin.

    ``transform_host(host, options)`` receives the host as written (a dict; its password
    and connection options are left out and kept as they are) and
    ``settings.inventory.transform_function_options``, and returns the host to use; it may
    be ``async def``. genja-py's optional ``transform_group`` and ``transform_defaults`` are
    not called here: groups and defaults are loaded as written.
    """

    def name(self) -> str: ...

    def group(self) -> str: ...

    def transform_host(
        self, host: dict[str, Any], options: Any | None
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]: ...

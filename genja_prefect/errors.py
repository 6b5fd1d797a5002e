"""Exception classes shared by every part of genja-prefect.

Each error says what was wrong, where (file, host or group, key, line) and, where it helps,
what to do. None of them ever carries a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence


class GenjaError(Exception):
    """Base class of every error raised by genja-prefect."""


class ConfigError(GenjaError, ValueError):
    """Bad configuration input: settings or inventory.

    ``source`` names the file (or "<dict>" for in-memory input), ``where`` the host or group,
    ``key`` the dotted key and ``line`` the 1-based YAML line when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        where: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = source
        self.where = where
        self.key = key
        self.line = line
        self.reason = message
        parts = []
        if source:
            parts.append(f"{source}" + (f" (line {line})" if line else ""))
        if where:
            parts.append(where)
        if key:
            parts.append(f"key '{key}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SettingsError(ConfigError):
    """Invalid settings file or settings environment variable."""


class InventoryError(ConfigError):
    """Invalid inventory: hosts, groups or defaults."""


class FilterError(GenjaError, ValueError):
    """A host filter that cannot work: a key no host has (a typo such as ``platfrom``), an
    unknown operator, an invalid regular expression.

    The same error wherever a filter is given: ``Genja.filter()``, ``filter_by_key_value()``,
    ``--filter`` on the command line and the ready-made jobs' ``filter`` parameter. ``key`` is
    the keyword as written, when one is to blame. Also importable from
    ``genja_prefect.selection``.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class SecretResolutionError(GenjaError):
    """A secret reference (``{"env": ...}``, ``{"prefect_secret": ...}``) could not be resolved."""


class TaskDefinitionError(GenjaError, TypeError):
    """A class decorated with ``@task`` (or passed as a task) is not a valid task."""


class PluginError(GenjaError):
    """Base class of plugin registration and lookup errors."""


class PluginNotRegisteredError(PluginError, KeyError):
    """No plugin of the requested kind is registered under that name."""

    def __init__(self, kind: str, name: str, available: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = list(available)
        names = ", ".join(sorted(self.available)) or "none"
        super().__init__(
            f"unknown {kind} plugin '{name}' (registered {kind} plugins: {names}); "
            f"register it with PluginManager.register_plugin(...) or install the package "
            f"that provides it"
        )

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class PluginKindError(PluginError, TypeError):
    """A plugin exists under that name but is of another kind (e.g. a runner used as a connection)."""

    def __init__(self, name: str, expected: str, actual: Sequence[str]) -> None:
        self.name = name
        self.expected = expected
        self.actual = list(actual)
        super().__init__(
            f"plugin '{name}' is registered as a {' and '.join(self.actual)} plugin, "
            f"not as a {expected} plugin"
        )


class EventLoopError(GenjaError, RuntimeError):
    """A synchronous entry point was called from inside a running event loop."""

"""Connection plugins: the factory/instance interface, connection keys, resolved parameters.

A connection plugin is a factory registered by name (``ConnectionPluginBase.create``) that
returns one :class:`ConnectionBase` instance per (host, plugin). Every method of both may be
a plain function or ``async def``. Plugins describe themselves for resolution with
:func:`register_connection_plugin` (platforms, connection type and library, capabilities,
defaults); see :mod:`genja_prefect.resolution` for the algorithm.

Example::

    from genja_prefect.connection import ConnectionBase, ConnectionKey, ConnectionPluginBase

    class SshConnection(ConnectionBase):
        def __init__(self, key: ConnectionKey):
            self.key = key
            self.alive = False

        def open(self, params):
            self.alive = True

        def close(self):
            self.alive = False
            return self.key

        def is_alive(self):
            return self.alive

    class SshPlugin(ConnectionPluginBase):
        name = "ssh"

        def create(self, key):
            return SshConnection(key)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from genja_prefect.errors import GenjaError, PluginError
from genja_prefect.results import TaskFailureKind
from genja_prefect.secrets import Secret, masked


@dataclass(frozen=True, slots=True)
class ConnectionKey:
    """Identifies one cached connection: the host and the connection plugin name."""

    host_id: str
    plugin_name: str

    def __str__(self) -> str:
        return f"{self.plugin_name}@{self.host_id}"


class ResolvedConnectionParams(BaseModel):
    """What a plugin's ``open`` receives: the host's parameters for that plugin.

    ``password`` is a :class:`~genja_prefect.secrets.Secret`; call
    ``params.password.get_secret_value()`` (or :meth:`password_value`) only where the library
    needs it. ``repr`` and JSON show ``***``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    host_id: str
    hostname: str
    port: int | None = None
    username: str | None = None
    password: Secret | None = None
    platform: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("extras")
    def _masked_extras(self, extras: dict[str, Any]) -> dict[str, Any]:
        return masked(extras)

    def password_value(self) -> str | None:
        """The plain password for the connection library, or ``None``."""
        return self.password.get_secret_value() if self.password is not None else None

    @property
    def address(self) -> str:
        """``hostname:port`` for messages (never includes credentials)."""
        return f"{self.hostname}:{self.port}" if self.port else self.hostname


class ConnectionBase:
    """One open (or openable) session to one host. Methods may be sync or ``async def``."""

    def open(self, params: ResolvedConnectionParams) -> None | Awaitable[None]:
        """Open the session. Raise :class:`ConnectionOpenError` to classify a failure."""
        raise NotImplementedError

    def close(self) -> "ConnectionKey | None | Awaitable[ConnectionKey | None]":
        """Close the session; return the :class:`ConnectionKey`."""
        raise NotImplementedError

    def is_alive(self) -> bool | Awaitable[bool]:
        """Whether the session can still be used (a dead one is reopened once)."""
        raise NotImplementedError

    def execute_command(self, command: str) -> Any:
        """Run one command and return its output (optional)."""
        raise NotImplementedForThisPlatform(type(self).__name__, "execute_command")


class ConnectionPluginBase:
    """A registered connection plugin: a factory for per-host :class:`ConnectionBase` instances."""

    name: ClassVar[str] = ""

    def create(self, key: ConnectionKey) -> "ConnectionBase | Awaitable[ConnectionBase]":
        """Return a new, unopened connection instance for ``key`` (may be ``async def``)."""
        raise NotImplementedError


@runtime_checkable
class ConnectionProtocol(Protocol):
    """genja-py's structural contract of a connection instance (what ``create`` returns).

    :class:`ConnectionBase` subclasses satisfy it; any object with these methods works too.
    Each method may be ``async def``.
    """

    def open(self, params: ResolvedConnectionParams) -> None | Awaitable[None]: ...

    def execute_command(self, command: str) -> str | Awaitable[str]: ...

    def close(self) -> Any: ...

    def is_alive(self) -> bool | Awaitable[bool]: ...


@runtime_checkable
class ConnectionPluginProtocol(Protocol):
    """genja-py's structural contract of a connection plugin: ``name()``, ``group()`` (returns
    ``"ConnectionPlugin"``) and ``create(key)``.

    ``PluginManager.register_plugin`` accepts such an object as it is and registers it as a
    connection plugin named ``name()``; here a plugin usually subclasses
    :class:`ConnectionPluginBase` and sets ``name = "ssh"`` instead.
    """

    def name(self) -> str: ...

    def group(self) -> str: ...

    def create(self, key: ConnectionKey) -> ConnectionProtocol | Awaitable[ConnectionProtocol]: ...


# -- failures -------------------------------------------------------------------------------
class ConnectionOpenError(GenjaError):
    """Raised by a plugin's ``open`` (or by the engine) to classify a connection failure.

    ``kind`` is one of the :class:`TaskFailureKind` values (``connection``, ``authentication``,
    ``timeout``, ...); ``retryable`` says whether another attempt may succeed. The message must
    name the host and port, never a password.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: TaskFailureKind | str = TaskFailureKind.CONNECTION,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = TaskFailureKind(kind)
        self.retryable = retryable


_Extras = TypeVar("_Extras", bound=BaseModel)


def parse_extras(model: type[_Extras], extras: Mapping[str, Any]) -> _Extras:
    """Validate a plugin's ``connection_options.<plugin>.extras`` with its pydantic ``model``.

    Raises ``ValueError`` naming every bad key (``key 'timeout_ops': ...``); a plugin's
    ``open`` turns it into :func:`invalid_extras`.
    """
    try:
        return model.model_validate(dict(extras))
    except ValidationError as exc:
        problems = "; ".join(
            f"key '{'.'.join(str(p) for p in err['loc']) or 'extras'}': {err['msg']}" for err in exc.errors()
        )
        raise ValueError(problems) from None


def invalid_extras(where: str, plugin_name: str, problem: Exception) -> ConnectionOpenError:
    """The error a plugin's ``open`` raises for bad extras: kind ``validation``, not retryable."""
    return ConnectionOpenError(
        f"{where}: invalid connection_options.{plugin_name}.extras: {problem}",
        kind=TaskFailureKind.VALIDATION,
        retryable=False,
    )


class ConnectionLostError(ConnectionOpenError):
    """An open session died while in use (dropped by the device, reset, EOF): kind ``connection``,
    retryable. Raise it from plugin methods other than ``open``."""


class CommandError(GenjaError):
    """A device answered a command with an error (classified as failure kind ``command``)."""

    def __init__(self, message: str, *, output: str | None = None) -> None:
        super().__init__(message)
        self.output = output


class PluginNotFoundError(PluginError, LookupError):
    """No connection plugin matches the platform / connection type / library asked for."""


class AmbiguousPluginError(PluginError, LookupError):
    """More than one connection plugin matches and no default breaks the tie."""


class PluginRegistrationError(PluginError):
    """Two user plugins claim to be the default for the same scope (or a similar conflict)."""


class NotImplementedForThisPlatform(GenjaError, NotImplementedError):
    """The resolved plugin lacks a capability method that was called."""

    def __init__(self, plugin: str, method: str, capability: str | None = None) -> None:
        self.plugin = plugin
        self.method = method
        cap = f" (capability {capability})" if capability else ""
        super().__init__(f"connection plugin '{plugin}' does not implement {method}(){cap}")


# -- registration metadata ------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectionPluginSpec:
    """What :func:`register_connection_plugin` records about a plugin class."""

    platforms: tuple[str, ...]
    connection_type: str | None
    connection_library: str | None
    capabilities: tuple[type, ...] = ()
    default_for_platform: bool = False
    default_for_connection_type: bool = False
    capability_names: tuple[str, ...] = field(default=())


_P = TypeVar("_P", bound=type)


def register_connection_plugin(
    platforms: Sequence[str] = (),
    connection_type: str | None = None,
    connection_library: str | None = None,
    capabilities: Sequence[type] = (),
    default_for_platform: bool = False,
    default_for_connection_type: bool = False,
) -> Callable[[_P], _P]:
    """Describe a :class:`ConnectionPluginBase` subclass for plugin resolution.

    ``platforms`` lists the inventory platforms it serves (``"*"`` for any), ``capabilities``
    the capability classes/protocols it implements. The defaults flags make it the default
    for its platforms, or for (platform, connection_type), when a resolution asks for
    ``fallback_to_default=True``. Registering the plugin in a :class:`PluginManager` (directly
    or through an entry point) is what makes it a candidate.

    Example::

        @register_connection_plugin(
            platforms=["ios", "eos"], connection_type="ssh", connection_library="scrapli",
            default_for_connection_type=True,
        )
        class ScrapliPlugin(ConnectionPluginBase):
            name = "scrapli"
            ...
    """

    def decorate(cls: _P) -> _P:
        if not (isinstance(cls, type) and issubclass(cls, ConnectionPluginBase)):
            raise PluginRegistrationError(
                f"@register_connection_plugin decorates ConnectionPluginBase subclasses, not {cls!r}"
            )
        if isinstance(platforms, str):
            raise PluginRegistrationError(
                f"{cls.__name__}: platforms must be a list of platform names, not a string"
            )
        cls.__genja_connection__ = ConnectionPluginSpec(  # type: ignore[attr-defined]
            platforms=tuple(platforms),
            connection_type=connection_type,
            connection_library=connection_library,
            capabilities=tuple(capabilities),
            default_for_platform=default_for_platform,
            default_for_connection_type=default_for_connection_type,
            capability_names=tuple(c.__name__ for c in capabilities),
        )
        return cls

    return decorate


def plugin_spec(plugin: object) -> ConnectionPluginSpec | None:
    """The resolution metadata of a plugin (instance or class), if it was decorated."""
    return getattr(plugin, "__genja_connection__", None)


def capability_methods(capability: type) -> tuple[str, ...]:
    """Public method names a capability class/protocol requires."""
    names = []
    for klass in reversed(capability.__mro__):
        if klass in (object,) or klass.__module__ == "typing":
            continue
        for attr, value in vars(klass).items():
            if not attr.startswith("_") and callable(value):
                names.append(attr)
    return tuple(dict.fromkeys(names))


def missing_capability_methods(connection: Any, capabilities: Sequence[type]) -> dict[str, str]:
    """Capability methods a connection instance lacks, mapped to their capability's name."""
    missing = {}
    for cap in capabilities:
        for method in capability_methods(cap):
            if not callable(getattr(connection, method, None)):
                missing[method] = cap.__name__
    return missing


class CapabilityProxy:
    """Wraps a connection so that capability methods it lacks raise NotImplementedForThisPlatform."""

    def __init__(self, connection: Any, plugin_name: str, capabilities: Sequence[type]) -> None:
        self._connection = connection
        self._plugin_name = plugin_name
        self._missing = missing_capability_methods(connection, capabilities)

    @property
    def missing_methods(self) -> dict[str, str]:
        """Capability methods the wrapped connection lacks, mapped to their capability."""
        return dict(self._missing)

    @property
    def wrapped(self) -> Any:
        """The plugin's own connection instance."""
        return self._connection

    def __getattr__(self, name: str) -> Any:
        if name in self._missing:
            capability = self._missing[name]

            def not_implemented(*_args: Any, **_kwargs: Any) -> Any:
                raise NotImplementedForThisPlatform(self._plugin_name, name, capability)

            return not_implemented
        return getattr(self._connection, name)

    def __repr__(self) -> str:
        return f"CapabilityProxy({self._connection!r})"

"""The inventory: hosts, groups and defaults, and how their values are inherited.

Plain Python and pydantic; nothing here imports Prefect.

Inheritance: a host's value for an attribute comes from the host, then its groups in the order
listed (each group followed by its own parent groups, depth first), then the defaults. ``data``
is merged key by key the same way. A connection for (host, plugin) resolves each of hostname,
port, username, password and platform from the most specific place that sets it::

    host.connection_options[plugin] -> host
    -> group.connection_options[plugin] -> group   (for each group, in order)
    -> defaults.connection_options[plugin] -> defaults

``extras`` are merged key by key with the same precedence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from genja_prefect.connection import ResolvedConnectionParams
from genja_prefect.errors import InventoryError
from genja_prefect.secrets import Secret, masked, secret_extras
from genja_prefect.task import Host
from genja_prefect.yamlfile import find_line, load_file

_ATTRS = ("hostname", "port", "username", "password", "platform")


class ConnectionOptions(BaseModel):
    """Per-plugin connection overrides (``connection_options.<plugin>`` in the inventory)."""

    model_config = ConfigDict(extra="forbid")

    hostname: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    platform: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extras")
    @classmethod
    def _secret_values(cls, extras: dict[str, Any]) -> dict[str, Any]:
        # An enable secret or a token in extras is a Secret from the moment it is read,
        # like a password: masked in repr, JSON, results and errors.
        return secret_extras(extras)

    @field_serializer("extras")
    def _masked(self, extras: dict[str, Any]) -> dict[str, Any]:
        return masked(extras)


class _Attributes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    platform: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    connection_options: dict[str, ConnectionOptions] = Field(default_factory=dict)


class Defaults(_Attributes):
    """Values every host inherits when neither it nor its groups set them."""


class Group(_Attributes):
    """A group of hosts; ``groups`` lists parent groups, which it inherits from in order."""

    groups: list[str] = Field(default_factory=list)


class HostConfig(Group):
    """One host as written in the inventory (before inheritance)."""


class InventoryPluginBase:
    """Base class of inventory plugins: build an :class:`Inventory` from settings options.

    ``options`` is ``settings.inventory.options``; relative paths in it are relative to
    ``base_dir`` (the folder of the settings file).
    """

    name: ClassVar[str] = ""

    def load(self, options: Mapping[str, Any], base_dir: Path) -> "Inventory":
        raise NotImplementedError


if TYPE_CHECKING:
    from genja_prefect.settings import Settings


@runtime_checkable
class InventoryPluginProtocol(Protocol):
    """genja-py's structural contract of an inventory plugin: ``name()``, ``group()``
    (``"InventoryPlugin"``) and ``load(settings, plugins)`` returning hosts as
    ``Genja.from_hosts`` takes them, or ``{"hosts": ..., "groups": ..., "defaults": ...}``.

    ``PluginManager.register_plugin`` accepts such an object; ``settings.inventory.plugin``
    then names it. ``plugins`` is the plugin manager (``plugin_names()``,
    ``plugin_names_and_groups()``). Here an inventory plugin usually subclasses
    :class:`InventoryPluginBase` instead.
    """

    def name(self) -> str: ...

    def group(self) -> str: ...

    def load(self, settings: "Settings", plugins: Any) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]: ...


class FileInventoryPlugin(InventoryPluginBase):
    """Reads ``hosts_file``, ``groups_file`` and ``defaults_file`` (YAML or JSON).

    Only ``hosts_file`` is required; the other two default to ``groups.yaml`` and
    ``defaults.yaml`` beside it and may be absent.
    """

    name = "FileInventoryPlugin"

    def load(self, options: Mapping[str, Any], base_dir: Path) -> "Inventory":
        unknown = set(options) - {"hosts_file", "groups_file", "defaults_file"}
        if unknown:
            raise InventoryError(
                f"unknown option(s) {sorted(unknown)}; expected hosts_file, groups_file, defaults_file",
                source="settings",
                key="inventory.options",
            )
        hosts_file = base_dir / str(options.get("hosts_file", "hosts.yaml"))
        groups_file = base_dir / str(options.get("groups_file", "groups.yaml"))
        defaults_file = base_dir / str(options.get("defaults_file", "defaults.yaml"))
        hosts = load_file(hosts_file, InventoryError)
        groups = load_file(groups_file, InventoryError) if groups_file.exists() or "groups_file" in options else None
        defaults = (
            load_file(defaults_file, InventoryError)
            if defaults_file.exists() or "defaults_file" in options
            else None
        )
        return Inventory.from_dict(
            hosts or {},
            groups or {},
            defaults or {},
            sources=(str(hosts_file), str(groups_file), str(defaults_file)),
        )


def _validation_error(
    exc: ValidationError, source: str, kind: str, name: str, path_prefix: tuple[str, ...]
) -> InventoryError:
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or None
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; allowed keys are " + ", ".join(
            _allowed_keys(kind, loc)
        ) + ")"
    if len(exc.errors()) > 1:
        message += f" (and {len(exc.errors()) - 1} more problem(s) in this {kind})"
    line = find_line(source, [*path_prefix, name, *loc])
    return InventoryError(message, source=source, where=f"{kind} '{name}'", key=key, line=line)


def _allowed_keys(kind: str, loc: list[str]) -> list[str]:
    if len(loc) >= 3 and loc[0] == "connection_options":
        return list(ConnectionOptions.model_fields)
    models: dict[str, type[BaseModel]] = {"host": HostConfig, "group": Group, "defaults": Defaults}
    return list(models[kind].model_fields)


class Inventory:
    """Hosts, groups and defaults, with inheritance resolved on demand.

    Build one with :meth:`from_dict` or an inventory plugin. Inventories are treated as
    read-only once built; host selection makes new runtimes, not new inventories.
    """

    def __init__(
        self,
        hosts: dict[str, HostConfig],
        groups: dict[str, Group],
        defaults: Defaults,
        *,
        sources: tuple[str, str, str] = ("<hosts>", "<groups>", "<defaults>"),
    ) -> None:
        self.hosts = hosts
        self.groups = groups
        self.defaults = defaults
        self.sources = sources
        self._lineage: dict[str, tuple[str, ...]] = {}
        self._check_groups()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(
        cls,
        hosts: Mapping[str, Any],
        groups: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        *,
        sources: tuple[str, str, str] = ("<hosts>", "<groups>", "<defaults>"),
    ) -> "Inventory":
        """Validate plain data (as read from YAML) into an inventory.

        Raises :class:`InventoryError` naming the file, host/group and key of the first problem.
        """
        hosts_src, groups_src, defaults_src = sources
        parsed_hosts = cls._parse_section(hosts, HostConfig, "host", hosts_src)
        parsed_groups = cls._parse_section(groups or {}, Group, "group", groups_src)
        if defaults is None:
            defaults = {}
        if not isinstance(defaults, Mapping):
            raise InventoryError("defaults must be a mapping of key: value", source=defaults_src)
        try:
            parsed_defaults = Defaults.model_validate(defaults)
        except ValidationError as exc:
            raise _validation_error(exc, defaults_src, "defaults", "", ()) from None
        return cls(parsed_hosts, parsed_groups, parsed_defaults, sources=sources)

    @staticmethod
    def _parse_section(
        section: Any, model: type[Group], kind: str, source: str
    ) -> dict[str, Any]:
        if not isinstance(section, Mapping):
            raise InventoryError(
                f"expected a mapping of {kind} name to {kind} attributes, got {type(section).__name__}",
                source=source,
            )
        parsed: dict[str, Any] = {}
        validate = model.model_validate
        for name, raw in section.items():
            name = str(name)
            if raw is None:
                raw = {}
            if not isinstance(raw, Mapping):
                raise InventoryError(
                    f"expected a mapping of attributes, got {type(raw).__name__}",
                    source=source,
                    where=f"{kind} '{name}'",
                    line=find_line(source, [name]),
                )
            try:
                parsed[name] = validate(raw)
            except ValidationError as exc:
                raise _validation_error(exc, source, kind, name, ()) from None
        return parsed

    def _check_groups(self) -> None:
        hosts_src, groups_src, _ = self.sources
        for name, group in self.groups.items():
            for parent in group.groups:
                if parent not in self.groups:
                    raise InventoryError(
                        f"unknown parent group '{parent}'",
                        source=groups_src,
                        where=f"group '{name}'",
                        key="groups",
                        line=find_line(groups_src, [name, "groups"]),
                    )
        for name in self.groups:
            self._group_lineage(name, ())
        for host_id, host in self.hosts.items():
            for group_name in host.groups:
                if group_name not in self.groups:
                    raise InventoryError(
                        f"unknown group '{group_name}' (defined groups: {', '.join(sorted(self.groups)) or 'none'})",
                        source=hosts_src,
                        where=f"host '{host_id}'",
                        key="groups",
                        line=find_line(hosts_src, [host_id, "groups"]),
                    )

    def _group_lineage(self, name: str, stack: tuple[str, ...]) -> tuple[str, ...]:
        """The group followed by its ancestors, depth first, without repeats; rejects cycles."""
        cached = self._lineage.get(name)
        if cached is not None:
            return cached
        if name in stack:
            cycle = " -> ".join([*stack[stack.index(name):], name])
            raise InventoryError(
                f"group cycle: {cycle}",
                source=self.sources[1],
                where=f"group '{name}'",
                key="groups",
                line=find_line(self.sources[1], [name, "groups"]),
            )
        order = [name]
        for parent in self.groups[name].groups:
            for g in self._group_lineage(parent, (*stack, name)):
                if g not in order:
                    order.append(g)
        result = tuple(order)
        self._lineage[name] = result
        return result

    # -- resolution ---------------------------------------------------------------------
    def host_groups(self, host_id: str) -> tuple[str, ...]:
        """All groups of a host in inheritance order (direct groups and their parents)."""
        direct = self.hosts[host_id].groups
        if not direct:
            return ()
        if len(direct) == 1:
            return self._lineage[direct[0]]
        order: list[str] = []
        for group in direct:
            for g in self._lineage[group]:
                if g not in order:
                    order.append(g)
        return tuple(order)

    def chain(self, host_id: str) -> list[_Attributes]:
        """Where a host's attributes come from, in precedence order: the host, its groups
        (nearest first), the defaults."""
        host = self.hosts[host_id]
        return [host, *(self.groups[g] for g in self.host_groups(host_id)), self.defaults]

    def attribute(self, host_id: str, name: str) -> Any:
        """The inherited value of ``hostname``, ``port``, ``username``, ``password`` or ``platform``."""
        for item in self.chain(host_id):
            value = getattr(item, name)
            if value is not None:
                return value
        return None

    def host_data(self, host_id: str) -> dict[str, Any]:
        """``data`` merged from defaults, then groups (last listed first), then the host."""
        merged: dict[str, Any] = {}
        for item in reversed(self.chain(host_id)):
            if item.data:
                merged.update(item.data)
        return merged

    def connection_params(self, host_id: str, plugin_name: str) -> ResolvedConnectionParams:
        """Resolve the connection parameters of ``host_id`` for the plugin ``plugin_name``."""
        values: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for item in reversed(self.chain(host_id)):
            opts = item.connection_options.get(plugin_name)
            if opts is not None and opts.extras:
                extras.update(opts.extras)
        for attr in _ATTRS:
            for item in self.chain(host_id):
                opts = item.connection_options.get(plugin_name)
                value = getattr(opts, attr) if opts is not None else None
                if value is None:
                    value = getattr(item, attr)
                if value is not None:
                    values[attr] = value
                    break
        hostname = values.get("hostname") or host_id
        return ResolvedConnectionParams(
            host_id=host_id,
            hostname=hostname,
            port=values.get("port"),
            username=values.get("username"),
            password=values.get("password"),
            platform=values.get("platform"),
            extras=extras,
        )

    def host_view(self, host_id: str) -> Host:
        """The task-facing :class:`~genja_prefect.task.Host` (inherited values, no password)."""
        chain = self.chain(host_id)

        def first(attr: str) -> Any:
            for item in chain:
                value = getattr(item, attr)
                if value is not None:
                    return value
            return None

        return Host(
            id=host_id,
            hostname=first("hostname") or host_id,
            port=first("port"),
            username=first("username"),
            platform=first("platform"),
            groups=self.host_groups(host_id),
            data=self.host_data(host_id),
        )

    # -- plain views (genja-py's inventory accessors) -----------------------------------
    def resolved_host(self, host_id: str) -> dict[str, Any]:
        """One host with inheritance applied, as plain data; a set password shows as ``***``."""
        view = self.host_view(host_id)
        return {
            "hostname": view.hostname,
            "port": view.port,
            "username": view.username,
            "password": "***" if self.attribute(host_id, "password") is not None else None,
            "platform": view.platform,
            "groups": list(view.groups),
            "data": dict(view.data),
        }

    def raw_host(self, host_id: str) -> dict[str, Any]:
        """One host as written in the inventory (no inheritance), secrets masked."""
        return self.hosts[host_id].model_dump(mode="json", exclude_unset=True)

    def __call__(self) -> dict[str, dict[str, Any]]:
        """Host id -> resolved host (:meth:`resolved_host`) for every host, in inventory order.

        So ``genja.inventory()`` reads as in genja-py while ``genja.inventory`` stays this object.
        """
        return {host_id: self.resolved_host(host_id) for host_id in self.hosts}

    # -- helpers for selection ----------------------------------------------------------
    def __contains__(self, host_id: object) -> bool:
        return host_id in self.hosts

    def __len__(self) -> int:
        return len(self.hosts)

    def transform(self, function: Callable[..., Any], options: Mapping[str, Any]) -> None:
        """Apply a transform function to every host (``function(host_config, **options)``)."""
        for host in self.hosts.values():
            function(host, **options)

    def host_ids(self) -> Iterable[str]:
        return self.hosts.keys()

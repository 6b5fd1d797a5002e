"""Prefect blocks: an inventory with its settings, and device credentials, kept in Prefect.

Registered through the ``prefect.collections`` entry point, so a Prefect server lists them in
the UI's Blocks catalogue (or ``prefect block register -m genja_prefect.prefect.blocks``).
A deployment then names a block instead of a ``settings.yaml`` on the worker's disk::

    from genja_prefect.prefect.blocks import DeviceCredentials, GenjaInventory

    DeviceCredentials(username="admin", password="s3cret").save("lab-admin")
    GenjaInventory(
        hosts={"r1": {"hostname": "192.0.2.1", "platform": "ios"}},
        settings={"runner": {"worker_count": 20}},
        credentials=DeviceCredentials.load("lab-admin"),
    ).save("lab")

    genja = GenjaInventory.load("lab").runtime()      # a Genja runtime, as from_settings_file
    collect_facts(settings="genja-inventory/lab")     # ready-made flows take the block's name

Passwords, the enable secret and the NetBox token are ``SecretStr``: Prefect stores them
encrypted and shows them masked; they become :class:`genja_prefect.secrets.Secret` values
in the inventory, masked there too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from prefect.blocks.core import Block
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from genja_prefect.errors import InventoryError
from genja_prefect.inventory import Inventory
from genja_prefect.plugins import PluginManager
from genja_prefect.runtime import Genja
from genja_prefect.settings import Settings

__all__ = ["BLOCK_PREFIX", "DeviceCredentials", "GenjaInventory", "NetBoxSource", "inventory_block_name"]

#: ``settings="genja-inventory/NAME"`` in a ready-made flow names a :class:`GenjaInventory` block.
BLOCK_PREFIX = "genja-inventory/"


def inventory_block_name(settings: str | os.PathLike[str]) -> str | None:
    """The block name when ``settings`` is ``genja-inventory/NAME`` and no such file exists."""
    text = os.fspath(settings)
    if text.startswith(BLOCK_PREFIX) and not os.path.exists(text):
        return text[len(BLOCK_PREFIX):] or None
    return None


class DeviceCredentials(Block):
    """Username, password and optional enable secret for network devices.

    Used by :class:`GenjaInventory` as the inventory's defaults: a host or group that sets its
    own username or password keeps it.
    """

    _block_type_name: ClassVar[str] = "Genja Device Credentials"
    _block_type_slug: ClassVar[str] = "genja-device-credentials"
    _description: ClassVar[str] = "Username, password and enable secret for network devices (genja-prefect)."

    username: str = Field(description="The login name on the devices.")
    password: SecretStr = Field(description="The login password.")
    enable_secret: SecretStr | None = Field(
        default=None, description="The enable (privileged mode) secret, where the devices ask for one."
    )

    def inventory_defaults(self) -> dict[str, Any]:
        """These credentials as inventory defaults (``username``, ``password``, the enable secret
        as scrapli's ``auth_secondary``)."""
        defaults: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.enable_secret is not None:
            defaults["connection_options"] = {"scrapli": {"extras": {"auth_secondary": self.enable_secret}}}
        return defaults


class NetBoxSource(BaseModel):
    """Where a :class:`GenjaInventory` reads its hosts from NetBox (the ``netbox`` extra).

    Any option of the NetBox inventory plugin besides these goes in ``options``.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="NetBox's base URL, e.g. https://netbox.example.com")
    token: SecretStr | None = Field(default=None, description="A NetBox API token with read access.")
    filters: dict[str, Any] = Field(default_factory=dict, description="Device filters: site, role, tag, status, ...")
    platform_map: dict[str, str] = Field(default_factory=dict, description="NetBox platform slug -> genja platform.")
    options: dict[str, Any] = Field(default_factory=dict, description="Other NetBox inventory plugin options.")

    def plugin_options(self) -> dict[str, Any]:
        """The NetBox inventory plugin's ``options`` for this source."""
        options: dict[str, Any] = {**self.options, "url": self.url, "filters": self.filters,
                                   "platform_map": self.platform_map}
        if self.token is not None:
            options["token"] = self.token
        return options


class GenjaInventory(Block):
    """An inventory (hosts, groups, defaults, or a NetBox source) and the settings to run it with.

    ``settings`` holds any ``settings.yaml`` section but ``inventory`` (runner, prefect,
    logging, ...). ``credentials`` are the defaults' username and password unless the
    inventory sets them. :meth:`runtime` builds the :class:`Genja` runtime.
    """

    _block_type_name: ClassVar[str] = "Genja Inventory"
    _block_type_slug: ClassVar[str] = "genja-inventory"
    _description: ClassVar[str] = (
        "A genja-prefect inventory (hosts, groups, defaults, or a NetBox source) with its settings; "
        "ready-made flows take settings='genja-inventory/<name>'."
    )

    settings: dict[str, Any] = Field(default_factory=dict, description="settings.yaml sections: runner, prefect, ...")
    hosts: dict[str, Any] = Field(default_factory=dict, description="Hosts, as in hosts.yaml.")
    groups: dict[str, Any] = Field(default_factory=dict, description="Groups, as in groups.yaml.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Defaults, as in defaults.yaml.")
    netbox: NetBoxSource | None = Field(default=None, description="Read the hosts from NetBox instead.")
    credentials: DeviceCredentials | None = Field(default=None, description="Device credentials (a block).")

    def runtime(self, plugin_manager: PluginManager | None = None) -> Genja:
        """A :class:`Genja` runtime over this inventory with these settings.

        Raises :class:`InventoryError` naming the block and key for bad content.
        """
        source = f"block {BLOCK_PREFIX}{self._block_document_name or '<unsaved>'}"
        if "inventory" in self.settings:
            raise InventoryError(
                "the block's settings must not hold an inventory section: give hosts/groups/defaults or netbox",
                source=source,
                key="settings.inventory",
            )
        if self.netbox is not None and self.hosts:
            raise InventoryError("give either hosts or netbox, not both", source=source, key="netbox")
        settings = Settings.from_dict(self.settings, source=source, base_dir=Path.cwd())
        manager = plugin_manager or PluginManager()
        defaults = self._defaults()
        if self.netbox is not None:
            plugin = manager.get("inventory", "NetBoxInventoryPlugin")
            loaded: Inventory = plugin.load(self.netbox.plugin_options(), Path.cwd())
            # Combined as parsed models: dumping them would mask their secrets.
            own = Inventory.from_dict({}, self.groups, defaults, sources=(source, source, source))
            inventory = Inventory(
                dict(loaded.hosts),
                {**loaded.groups, **own.groups},
                own.defaults if defaults else loaded.defaults,
                sources=(loaded.sources[0], source, source),
            )
        else:
            inventory = Inventory.from_dict(self.hosts, self.groups, defaults, sources=(source, source, source))
        return Genja.from_inventory(inventory, settings=settings, plugin_manager=manager)

    def _defaults(self) -> dict[str, Any]:
        defaults = dict(self.defaults)
        if self.credentials is None:
            return defaults
        for key, value in self.credentials.inventory_defaults().items():
            if key == "connection_options":
                options = dict(defaults.get("connection_options") or {})
                scrapli = dict(options.get("scrapli") or {})
                extras = dict(scrapli.get("extras") or {})
                extras.setdefault("auth_secondary", value["scrapli"]["extras"]["auth_secondary"])
                scrapli["extras"] = extras
                options["scrapli"] = scrapli
                defaults["connection_options"] = options
            else:
                defaults.setdefault(key, value)
        return defaults

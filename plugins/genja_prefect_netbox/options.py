"""The NetBox inventory plugin's options (``settings.inventory.options``) and platform names.

Example ``settings.yaml``::

    inventory:
      plugin: NetBoxInventoryPlugin
      options:
        url: https://netbox.example.com
        token: {env: NETBOX_TOKEN}          # or {prefect_secret: netbox-token}, or a literal
        filters: {site: [dc1, dc2], role: core, status: active, tag: [managed]}
        platform_map: {cisco-catalyst: ios} # NetBox platform slug -> genja platform
        group_by: [site, role, tenant, tags]
        defaults_file: defaults.yaml        # credentials and connection options, as files give them
        threads: 4                          # pages fetched at once
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genja_prefect.secrets import Secret

__all__ = ["DEFAULT_PLATFORM_MAP", "GROUP_BY", "NetBoxOptions"]

#: NetBox platform slugs (the usual ones, and NAPALM/netmiko-style slugs many teams use) ->
#: this project's platform names. ``platform_map`` adds to or overrides it.
DEFAULT_PLATFORM_MAP: dict[str, str] = {
    "ios": "ios",
    "cisco-ios": "ios",
    "cisco_ios": "ios",
    "iosxe": "iosxe",
    "ios-xe": "iosxe",
    "cisco-ios-xe": "iosxe",
    "cisco_xe": "iosxe",
    "eos": "eos",
    "arista-eos": "eos",
    "arista_eos": "eos",
    "junos": "junos",
    "juniper-junos": "junos",
    "juniper_junos": "junos",
    "nxos": "nxos",
    "nx-os": "nxos",
    "cisco-nx-os": "nxos",
    "cisco-nxos": "nxos",
    "cisco_nxos": "nxos",
    "iosxr": "iosxr",
    "ios-xr": "iosxr",
    "cisco-ios-xr": "iosxr",
    "cisco_xr": "iosxr",
    "asa": "asa",
    "cisco-asa": "asa",
    "cisco_asa": "asa",
}

#: What ``group_by`` may name: each makes groups ``<what>__<slug>`` (``site__dc1``, ``tag__edge``).
GROUP_BY = ("site", "role", "tenant", "tags", "platform", "manufacturer", "device_type", "status")


class NetBoxOptions(BaseModel):
    """``settings.inventory.options`` of the NetBox plugin; a misspelt key is an error."""

    model_config = ConfigDict(extra="forbid")

    #: NetBox's base URL (``https://netbox.example.com``, without ``/api``).
    url: str
    #: API token: a literal, ``{env: NAME}`` or ``{prefect_secret: block}``; none for an anonymous NetBox.
    token: Secret | None = None
    #: Any ``/api/dcim/devices/`` filter: ``site``, ``role``, ``tag``, ``status``, ``tenant``, ``q``, ...
    filters: dict[str, Any] = Field(default_factory=dict)
    #: NetBox platform slug -> genja platform name, over :data:`DEFAULT_PLATFORM_MAP`.
    platform_map: dict[str, str] = Field(default_factory=dict)
    #: Groups made from these device fields.
    group_by: list[str] = Field(default_factory=lambda: ["site", "role", "tenant", "tags"])
    #: Devices without a primary IP: ``skip`` them (with a warning) or use their ``name`` as hostname.
    missing_primary_ip: Literal["skip", "use_name"] = "skip"
    #: Include each device's rendered config context in ``data["config_context"]`` (large payloads).
    config_context: bool = True
    #: Groups and defaults from files, merged with the generated groups (file settings win).
    groups_file: str | None = None
    defaults_file: str | None = None
    #: Devices per page (NetBox caps it at its MAX_PAGE_SIZE, 1,000 by default).
    page_size: int = Field(default=1000, ge=1)
    #: Pages fetched at once (1: one after the other).
    threads: int = Field(default=4, ge=1, le=64)
    #: Seconds per HTTP request before giving up.
    timeout: float = Field(default=30.0, gt=0)
    #: TLS verification: true, false, or the path of a CA bundle.
    ssl_verify: bool | str = True

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        url = url.strip().rstrip("/")
        if url.endswith("/api"):
            url = url[: -len("/api")]
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in GROUP_BY]
        if unknown:
            raise ValueError(f"unknown group_by {unknown}; expected some of {', '.join(GROUP_BY)}")
        return names

    def platform_for(self, slug: str) -> str | None:
        """The genja platform for a NetBox platform slug, or ``None`` when unknown."""
        return self.platform_map.get(slug) or DEFAULT_PLATFORM_MAP.get(slug)

"""The NetBox inventory plugin: devices from NetBox's REST API (through pynetbox) as hosts.

Each device becomes a host named after the device, with

- ``hostname``: its primary IP without the prefix length (``10.0.0.1/24`` -> ``10.0.0.1``);
  a device without one is skipped with a warning (``missing_primary_ip: use_name`` uses its name),
- ``platform``: its NetBox platform slug mapped to this project's names (``cisco-ios-xe`` ->
  ``iosxe``; ``platform_map`` adds slugs); an unknown slug is kept as it is, with a warning,
- ``groups``: ``site__<slug>``, ``role__<slug>``, ``tenant__<slug>``, ``tag__<slug>`` (``group_by``),
- ``data``: ``netbox_id``, ``site``, ``role``, ``tenant``, ``status``, ``serial``,
  ``manufacturer``, ``device_type``, ``tags``, ``custom_fields`` and ``config_context``.

Credentials do not live in NetBox: give them in ``defaults_file`` / ``groups_file`` (the file
plugin's format), e.g. ``username`` and ``password: {env: DEVICE_PASSWORD}`` in defaults and
``connection_options`` per ``site__...`` group. Pages are fetched ``threads`` at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from genja_prefect.errors import InventoryError, SecretResolutionError
from genja_prefect.inventory import Inventory, InventoryPluginBase
from genja_prefect.yamlfile import load_file
from genja_prefect_netbox.options import NetBoxOptions

__all__ = ["NetBoxInventoryPlugin", "fetch_devices", "hosts_from_devices"]

logger = logging.getLogger("genja_prefect_netbox")

_KEY = "inventory.options"
_SHOWN = 5  # device names listed in an aggregated warning


def _libraries() -> tuple[Any, Any]:
    """pynetbox and requests, imported when a NetBox inventory is loaded: this package is a
    built-in inventory plugin entry point, loaded even where the netbox extra is not installed."""
    try:
        import pynetbox
        import requests
    except ModuleNotFoundError as exc:
        raise InventoryError(
            f"the NetBox inventory plugin needs the Python package {exc.name!r}: install genja-prefect[netbox]",
            source="settings",
            key="inventory.plugin",
        ) from None
    return pynetbox, requests


def _session(requests: Any, options: NetBoxOptions) -> Any:
    """A requests session with a default timeout (requests has none, and a NetBox that stops
    answering must not hang an inventory load) and one pooled connection per fetching thread."""
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    request = session.request

    def with_timeout(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", options.timeout)
        return request(method, url, **kwargs)

    session.request = with_timeout
    session.mount("http://", HTTPAdapter(pool_maxsize=options.threads))
    session.mount("https://", HTTPAdapter(pool_maxsize=options.threads))
    session.verify = options.ssl_verify
    return session


def _options(options: Mapping[str, Any]) -> NetBoxOptions:
    try:
        return NetBoxOptions.model_validate(dict(options))
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"unknown option (allowed: {', '.join(NetBoxOptions.model_fields)})"
        raise InventoryError(f"NetBox inventory: {message}", source="settings", key=f"{_KEY}.{key}") from None


def fetch_devices(options: NetBoxOptions) -> list[dict[str, Any]]:
    """Every device matching ``options.filters``, as NetBox's JSON (plain dicts), ordered by id.

    Raises :class:`InventoryError` for a refused token, a bad filter or an unreachable NetBox.
    """
    pynetbox, requests = _libraries()
    token = None
    if options.token is not None:
        try:
            token = options.token.get_secret_value()
        except SecretResolutionError as exc:
            raise InventoryError(f"NetBox token: {exc}", source="settings", key=f"{_KEY}.token") from None
    api = pynetbox.api(options.url, token=token, threading=options.threads > 1, max_workers=options.threads)
    session = _session(requests, options)
    api.http_session = session
    params = dict(options.filters)
    if not options.config_context:
        params["exclude"] = "config_context"
    where = f"NetBox at {options.url}"
    try:
        endpoint = api.dcim.devices
        records = endpoint.filter(limit=options.page_size, **params) if params else endpoint.all(limit=options.page_size)
        # The raw JSON, not pynetbox Records: building 10,000 Records costs more than the fetch.
        devices = list(records.response)
    except pynetbox.RequestError as exc:
        status = exc.req.status_code
        detail = _detail(exc.req)
        if status in (401, 403):
            raise InventoryError(
                f"{where} refused the API token (HTTP {status}: {detail}): check the token "
                "(a NetBox API token with read access to dcim.devices)",
                source="settings",
                key=f"{_KEY}.token",
            ) from None
        if status == 400:
            raise InventoryError(f"{where} rejected the filters (HTTP 400: {detail})", source="settings",
                                 key=f"{_KEY}.filters") from None
        raise InventoryError(f"{where} answered HTTP {status}: {detail}", source="settings", key=f"{_KEY}.url") from None
    except (pynetbox.ContentError, ValueError) as exc:
        raise InventoryError(f"{where} did not answer with NetBox's JSON ({exc}): is the URL right?",
                             source="settings", key=f"{_KEY}.url") from None
    except requests.RequestException as exc:
        raise InventoryError(f"could not reach {where}: {type(exc).__name__}: {exc}", source="settings",
                             key=f"{_KEY}.url") from None
    finally:
        session.close()
    devices.sort(key=lambda d: int(d.get("id") or 0))  # threaded pages arrive in any order
    return devices


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, Mapping) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]


def _slug(item: Any) -> str | None:
    return str(item["slug"]) if isinstance(item, Mapping) and item.get("slug") else None


def _summary(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def hosts_from_devices(
    devices: list[dict[str, Any]], options: NetBoxOptions
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """(hosts, groups, warnings) in the inventory's plain-data form from NetBox devices."""
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    no_ip: list[str] = []
    unnamed: list[str] = []
    unknown_platforms: dict[str, list[str]] = defaultdict(list)
    renamed: list[str] = []
    for device in devices:
        name = device.get("name")
        if not name:
            unnamed.append(str(device.get("id")))
            continue
        site = _slug(device.get("site"))
        address = (device.get("primary_ip") or {}).get("address")
        if address:
            hostname = str(address).split("/", 1)[0]
        elif options.missing_primary_ip == "use_name":
            hostname = str(name)
        else:
            no_ip.append(str(name))
            continue
        slug = _slug(device.get("platform"))
        platform = options.platform_for(slug) if slug else None
        if slug and platform is None:
            unknown_platforms[slug].append(str(name))
            platform = slug
        role = device.get("role") or device.get("device_role")  # NetBox < 4.0: device_role
        device_type = device.get("device_type") or {}
        fields = {
            "site": site,
            "role": _slug(role),
            "tenant": _slug(device.get("tenant")),
            "platform": slug,
            "manufacturer": _slug(device_type.get("manufacturer")),
            "device_type": _slug(device_type),
            "status": (device.get("status") or {}).get("value"),
            "tags": [str(t["slug"]) for t in device.get("tags") or [] if t.get("slug")],
        }
        host_groups = []
        for what in options.group_by:
            values = fields["tags"] if what == "tags" else [fields[what]]
            prefix = "tag" if what == "tags" else what
            for value in values:
                if value:
                    group = f"{prefix}__{value}"
                    host_groups.append(group)
                    groups.setdefault(group, {"data": {prefix: value}})
        host_id = str(name)
        if host_id in hosts:  # NetBox names are unique per site and tenant only
            host_id = f"{name}@{site}"
            renamed.append(host_id)
        data = {
            "netbox_id": device.get("id"),
            **{k: v for k, v in fields.items() if k != "platform"},
            "serial": device.get("serial") or None,
            "custom_fields": dict(device.get("custom_fields") or {}),
        }
        if "config_context" in device:
            data["config_context"] = dict(device.get("config_context") or {})
        hosts[host_id] = {"hostname": hostname, "platform": platform, "groups": host_groups, "data": data}
    warnings = []
    if no_ip:
        warnings.append(
            f"{len(no_ip)} NetBox device(s) without a primary IP skipped: {_summary(no_ip)} "
            "(set one in NetBox, or inventory.options.missing_primary_ip: use_name)"
        )
    if unnamed:
        warnings.append(f"{len(unnamed)} unnamed NetBox device(s) skipped (ids {_summary(unnamed)})")
    for slug, names in sorted(unknown_platforms.items()):
        warnings.append(
            f"NetBox platform '{slug}' of {_summary(names)} is not a known platform: kept as '{slug}'; "
            f"map it with inventory.options.platform_map: {{{slug}: <ios|iosxe|eos|junos|nxos|iosxr|asa>}}"
        )
    if renamed:
        warnings.append(f"duplicate NetBox device names made unique with their site: {_summary(renamed)}")
    return hosts, groups, warnings


class NetBoxInventoryPlugin(InventoryPluginBase):
    """Hosts from NetBox (``settings.inventory.plugin: NetBoxInventoryPlugin``); see the module."""

    name: ClassVar[str] = "NetBoxInventoryPlugin"

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Inventory:
        """Fetch the devices and build the inventory (warnings are logged, not raised)."""
        opts = _options(options)
        hosts, groups, warnings = hosts_from_devices(fetch_devices(opts), opts)
        for warning in warnings:
            logger.warning("%s", warning)
        groups_src = str(base_dir / opts.groups_file) if opts.groups_file else "<netbox groups>"
        defaults_src = str(base_dir / opts.defaults_file) if opts.defaults_file else "<defaults>"
        defaults: Any = {}
        if opts.groups_file:
            file_groups = load_file(Path(groups_src), InventoryError) or {}
            if not isinstance(file_groups, Mapping):
                raise InventoryError("expected a mapping of group name to group attributes", source=groups_src)
            for name, group in file_groups.items():
                if group is not None and not isinstance(group, Mapping):
                    groups[str(name)] = group  # Inventory.from_dict names the group and the problem
                    continue
                generated = groups.get(str(name), {})
                merged = {**generated, **(group or {})}
                merged["data"] = {**generated.get("data", {}), **((group or {}).get("data") or {})}
                groups[str(name)] = merged
        if opts.defaults_file:
            defaults = load_file(Path(defaults_src), InventoryError) or {}
        logger.info("NetBox inventory: %d host(s), %d group(s) from %s", len(hosts), len(groups), opts.url)
        return Inventory.from_dict(hosts, groups, defaults, sources=(f"NetBox {opts.url}", groups_src, defaults_src))

"""genja-prefect's NetBox inventory plugin (pynetbox): NetBox devices as hosts.

Registered through the ``genja_prefect.inventory`` entry point as ``NetBoxInventoryPlugin``,
exactly as a third party's plugin would be; install it with the ``netbox`` extra. See
:mod:`genja_prefect_netbox.plugin` for how devices become hosts and
:mod:`genja_prefect_netbox.options` for the settings.
"""

from genja_prefect_netbox.options import DEFAULT_PLATFORM_MAP, NetBoxOptions
from genja_prefect_netbox.plugin import NetBoxInventoryPlugin, fetch_devices, hosts_from_devices

__all__ = ["DEFAULT_PLATFORM_MAP", "NetBoxInventoryPlugin", "NetBoxOptions", "fetch_devices", "hosts_from_devices"]

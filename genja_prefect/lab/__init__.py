"""The loopback device lab: real protocol endpoints on 127.0.0.1 for tests and the quick start.

- :class:`FakeNOSFleet`: fakenos SSH devices (Cisco IOS, Arista EOS, Juniper, ...).
- :class:`Simulator`: a fast asyncssh CLI simulator for hundreds to thousands of devices.
- :class:`NetconfServer`: NETCONF over SSH (ncclient).
- :class:`RestconfServer`: RESTCONF-style JSON over HTTP (httpx).
- :class:`Lab`: a mix of the above plus a ready genja-prefect inventory.
- :func:`lab_up`, :func:`lab_status`, :func:`lab_down`: a lab in a background process.
- :mod:`genja_prefect.lab.pytest_plugin`: the ``lab`` and ``sim_lab`` fixtures.

Names are imported on first use, so ``from genja_prefect.lab import lab_status`` does not load
fakenos, asyncssh or lxml.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genja_prefect.lab.background import LabStatus, lab_down, lab_status, lab_up
    from genja_prefect.lab.errors import LabError, LabStartError, LabStateError
    from genja_prefect.lab.fakenos_devices import FAKENOS_PLATFORMS, FakeNOSDevice, FakeNOSFleet
    from genja_prefect.lab.http_server import RestconfServer
    from genja_prefect.lab.lab import Lab
    from genja_prefect.lab.lab_inventory import LabHost, write_inventory
    from genja_prefect.lab.netconf_server import NetconfServer
    from genja_prefect.lab.sim_platforms import SIM_PLATFORMS
    from genja_prefect.lab.simulator import SimDevice, Simulator

_EXPORTS = {
    "LabStatus": "background",
    "lab_down": "background",
    "lab_status": "background",
    "lab_up": "background",
    "LabError": "errors",
    "LabStartError": "errors",
    "LabStateError": "errors",
    "FAKENOS_PLATFORMS": "fakenos_devices",
    "FakeNOSDevice": "fakenos_devices",
    "FakeNOSFleet": "fakenos_devices",
    "RestconfServer": "http_server",
    "Lab": "lab",
    "LabHost": "lab_inventory",
    "write_inventory": "lab_inventory",
    "NetconfServer": "netconf_server",
    "SIM_PLATFORMS": "sim_platforms",
    "SimDevice": "simulator",
    "Simulator": "simulator",
}

__all__ = [
    "FAKENOS_PLATFORMS",
    "SIM_PLATFORMS",
    "FakeNOSDevice",
    "FakeNOSFleet",
    "Lab",
    "LabError",
    "LabHost",
    "LabStartError",
    "LabStateError",
    "LabStatus",
    "NetconfServer",
    "RestconfServer",
    "SimDevice",
    "Simulator",
    "lab_down",
    "lab_status",
    "lab_up",
    "write_inventory",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genja_prefect.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genja_prefect.lab.{module}"), name)
    globals()[name] = value
    return value

"""Write a running lab as a genja-prefect inventory: hosts, groups, defaults and settings YAML.

Host platforms use genja's names: ``ios``, ``eos``, ``junos``, ``nxos``, ``asa`` for SSH CLI
devices (scrapli maps them to ``cisco_iosxe``, ``arista_eos``, ...). Two lab-only names:

- ``netconf`` for NETCONF hosts, a neutral name because the lab server models no vendor. Their
  ``connection_options.ncclient.platform`` is ``default``, the name of ncclient's generic
  device handler (``device_params={"name": "default"}``), for plugins that map the platform
  onto it.
- ``restconf`` for RESTCONF hosts.

Example ``hosts.yaml`` entry::

    ios1:
      hostname: 127.0.0.1
      port: 40123
      platform: ios
      groups: [lab_ssh, lab_fakenos]
      data: {site: lab, role: access, lab_kind: fakenos}
      connection_options:
        scrapli:
          extras: {auth_strict_key: false}
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

HOSTS_FILE, GROUPS_FILE, DEFAULTS_FILE, SETTINGS_FILE = "hosts.yaml", "groups.yaml", "defaults.yaml", "settings.yaml"
INVENTORY_FILES = (HOSTS_FILE, GROUPS_FILE, DEFAULTS_FILE, SETTINGS_FILE)

# libyaml's emitter when PyYAML has it: the pure-Python one needs ~18 s for 10,000 hosts.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_ROLES = {"ios": "access", "eos": "distribution", "junos": "edge", "nxos": "core", "asa": "firewall"}
_GROUP_OF_KIND = {"fakenos": "lab_fakenos", "sim": "lab_sim", "netconf": "lab_netconf", "restconf": "lab_http"}


@dataclass(frozen=True)
class LabHost:
    """One lab endpoint as tests see it. ``kind``: fakenos, sim, netconf or restconf."""

    name: str
    platform: str
    kind: str
    port: int
    hostname: str = "127.0.0.1"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for the background lab's state file)."""
        return asdict(self)


def host_entry(host: LabHost) -> dict[str, Any]:
    """The ``hosts.yaml`` entry of one lab host."""
    entry: dict[str, Any] = {"hostname": host.hostname}
    data: dict[str, Any] = {"site": "lab", "lab_kind": host.kind}
    if host.kind in ("fakenos", "sim"):
        entry["port"] = host.port
        entry["platform"] = host.platform
        entry["groups"] = ["lab_ssh", _GROUP_OF_KIND[host.kind]]
        data["role"] = _ROLES.get(host.platform, "access")
        entry["data"] = data
        entry["connection_options"] = {"scrapli": {"extras": {"auth_strict_key": False}}}
    elif host.kind == "netconf":
        entry["platform"] = "netconf"
        entry["groups"] = ["lab_netconf"]
        entry["data"] = {**data, "role": "netconf"}
        entry["connection_options"] = {
            "ncclient": {"port": host.port, "platform": "default", "extras": {"hostkey_verify": False}}
        }
    else:
        entry["platform"] = "restconf"
        entry["groups"] = ["lab_http"]
        entry["data"] = {**data, "role": "api"}
        entry["connection_options"] = {"restconf": {"port": host.port, "extras": {"scheme": "http"}}}
    return entry


def inventory_documents(
    hosts: Iterable[LabHost], *, username: str, password: str, worker_count: int = 20
) -> dict[str, dict[str, Any]]:
    """File name -> YAML document for the four inventory files."""
    groups = {
        "lab_ssh": {"data": {"transport": "ssh"}},
        "lab_fakenos": {"data": {"simulator": "fakenos"}},
        "lab_sim": {"data": {"simulator": "genja-lab"}},
        "lab_netconf": {"data": {"transport": "netconf"}},
        "lab_http": {"data": {"transport": "restconf"}},
    }
    settings = {
        "inventory": {
            "plugin": "FileInventoryPlugin",
            "options": {"hosts_file": HOSTS_FILE, "groups_file": GROUPS_FILE, "defaults_file": DEFAULTS_FILE},
        },
        "runner": {"plugin": "threaded", "worker_count": worker_count},
    }
    return {
        HOSTS_FILE: {host.name: host_entry(host) for host in hosts},
        GROUPS_FILE: groups,
        DEFAULTS_FILE: {"username": username, "password": password},
        SETTINGS_FILE: settings,
    }


def write_inventory(
    directory: str | os.PathLike[str],
    hosts: Iterable[LabHost],
    *,
    username: str,
    password: str,
    worker_count: int = 20,
) -> list[Path]:
    """Write the inventory files into ``directory`` (created if needed) and return their paths.

    Each file is written to a temporary name and renamed, so a reader never sees half a file;
    ``defaults.yaml`` holds the lab password and is readable by its owner only.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    header = "# Written by genja_prefect.lab; the ports change every time the lab starts.\n"
    paths = []
    for name, document in inventory_documents(
        hosts, username=username, password=password, worker_count=worker_count
    ).items():
        text = header + yaml.dump(document, Dumper=_DUMPER, sort_keys=False, default_flow_style=None, width=100)
        paths.append(atomic_write(folder / name, text, private=name == DEFAULTS_FILE))
    return paths


def atomic_write(path: Path, text: str, *, private: bool = False) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
